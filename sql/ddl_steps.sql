-- The schema changes STREAM_DDL_EVERY_SECONDS makes while streaming, in this order, each in a
-- transaction of its own under an advisory lock (daemon/stream/ddl.py). They change only
-- SCHEMA_EXTRAS=faturamento's table and its status enum, never the seven tables. The step to run
-- next is read from the catalogue (daemon/stream/ddl.py: Step.done), so a restarted daemon, or
-- another replica, continues the sequence; IF [NOT] EXISTS keeps a repeated step harmless.
-- A section starts with "-- step: <name>" and holds one statement.

-- step: add_observacao
-- A nullable column: the auditor's note on a refused (glosada) guia, filled by guia_desfecho.
ALTER TABLE faturamento ADD COLUMN IF NOT EXISTS observacao_auditoria TEXT;

-- step: add_versao_tiss
-- A column with a default (rows already there read it without a rewrite): the TISS standard's
-- version the guia was sent in; new guias are sent in the current one.
ALTER TABLE faturamento ADD COLUMN IF NOT EXISTS versao_tiss VARCHAR(8) NOT NULL DEFAULT '4.01.00';

-- step: widen_senha
-- Operadoras moved to longer authorisation codes: VARCHAR(12) -> VARCHAR(20) (no table rewrite).
ALTER TABLE faturamento ALTER COLUMN senha_autorizacao TYPE VARCHAR(20);

-- step: add_em_recurso
-- A new status: the hospital appeals a glosa (guia_recurso moves a glosada internação guia into
-- it and files the appeal as a new guia in it).
ALTER TYPE status_guia ADD VALUE IF NOT EXISTS 'em_recurso' AFTER 'glosada';

-- step: drop_observacao
-- The note moves to the appeal workflow: the column the first step added goes.
ALTER TABLE faturamento DROP COLUMN IF EXISTS observacao_auditoria;
