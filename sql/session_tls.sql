-- This session's encryption, as the server sees it (check, doctor).
SELECT ssl, version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()
