-- A writer's previous session, if the server still runs it (the connection was lost on the
-- client's side only: it may still be running the events in flight): ended, so that its events
-- are settled before the writer reads its rows. Rows while it is still there.
SELECT pg_terminate_backend(pid)
  FROM pg_stat_activity
 WHERE pid = %(pid)s AND application_name = %(application_name)s AND pid <> pg_backend_pid();
