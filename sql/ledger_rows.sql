-- LEDGER_TABLE's rows in commit order (the table name is composed in, quoted).
SELECT tbl, op, pk, txid, episode, unchanged_toast, detail, committed_at FROM {} ORDER BY id;
