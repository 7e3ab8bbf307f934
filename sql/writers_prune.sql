-- Rows of writers gone for a day (a stopped daemon removes its own; a killed one cannot).
DELETE FROM hospital_sim_writers WHERE updated_at < now() - interval '1 day';
