-- The last event a writer committed (after a lost connection: did the event in doubt commit?).
SELECT seq, pk, txid, changes FROM hospital_sim_writers WHERE writer = %(writer)s;
