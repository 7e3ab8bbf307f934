-- Drops everything the bootstrap creates (used by `reset`), the SCHEMA_EXTRAS tables first.
DROP TABLE IF EXISTS faturamento, fila_triagem, sinais_vitais CASCADE;
DROP TYPE IF EXISTS status_guia;
DROP TABLE IF EXISTS pacientes_convenios, consultas, exames, internacoes, pacientes, medicos, convenios CASCADE;
DROP TABLE IF EXISTS hospital_sim_writers;
DROP FUNCTION IF EXISTS set_updated_at() CASCADE;
DROP FUNCTION IF EXISTS hospital_sim_cpf(BIGINT);
