-- Drops everything the bootstrap creates (used by `reset`).
DROP TABLE IF EXISTS pacientes_convenios, consultas, exames, internacoes, pacientes, medicos, convenios CASCADE;
DROP FUNCTION IF EXISTS set_updated_at() CASCADE;
