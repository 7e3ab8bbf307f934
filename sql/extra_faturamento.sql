-- SCHEMA_EXTRAS=faturamento: TISS-style billing guides (guias), the table of hard types.
-- Each column is chosen for what it does to a CDC pipeline's type mapping: NUMERIC(12,2) and an
-- unconstrained NUMERIC that sometimes holds 'NaN' (decimal.handling.mode), MONEY, INTERVAL,
-- DATE with 'infinity', TIMETZ (time.precision.mode), JSONB, TEXT[], UUID, an ENUM that gains a
-- label while streaming (STREAM_DDL_EVERY_SECONDS), BYTEA and BOOLEAN.
-- A guia bills a realised consulta or an internação; those rows are never deleted by the stream
-- (retention deletes only cancelled consultas), so plain foreign keys hold. Idempotent.
DO $$
BEGIN
    CREATE TYPE status_guia AS ENUM ('aberta', 'faturada', 'glosada', 'paga');
EXCEPTION WHEN duplicate_object THEN NULL;
END;
$$;

CREATE TABLE IF NOT EXISTS faturamento (
    id                BIGSERIAL     PRIMARY KEY,
    numero_guia       UUID          NOT NULL DEFAULT gen_random_uuid(),
    tipo_guia         VARCHAR(20)   NOT NULL,            -- consulta | sp_sadt | internacao
    consulta_id       BIGINT        REFERENCES consultas (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    internacao_id     BIGINT        REFERENCES internacoes (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    convenio_id       BIGINT        NOT NULL REFERENCES convenios (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    status            status_guia   NOT NULL DEFAULT 'aberta',
    senha_autorizacao VARCHAR(12),                       -- the operadora's authorisation code
    valor_total       NUMERIC(12,2) NOT NULL,
    valor_glosado     NUMERIC(12,2),                     -- set when the operadora refuses part of it
    fator_reajuste    NUMERIC,                           -- unconstrained; 'NaN' when not negotiated
    coparticipacao    MONEY,
    tempo_atendimento INTERVAL,
    validade_inicio   DATE          NOT NULL,
    validade_fim      DATE          NOT NULL,            -- 'infinity' for open-ended authorisations
    hora_autorizacao  TIMETZ,
    itens             JSONB         NOT NULL,            -- [{"codigo", "descricao", "quantidade", "valor"}]
    codigos_tuss      TEXT[]        NOT NULL,            -- TUSS procedure codes
    hash_xml          BYTEA,                             -- SHA-256 of the signed TISS XML
    urgencia          BOOLEAN       NOT NULL DEFAULT false,
    created_at        TIMESTAMPTZ   NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ   NOT NULL DEFAULT now(),
    CONSTRAINT faturamento_numero_guia_key UNIQUE (numero_guia),
    CONSTRAINT faturamento_origem_check CHECK (num_nonnulls(consulta_id, internacao_id) = 1)
);

CREATE UNIQUE INDEX IF NOT EXISTS idx_faturamento_consulta ON faturamento (consulta_id);  -- one guia a consulta
CREATE INDEX IF NOT EXISTS idx_faturamento_internacao ON faturamento (internacao_id);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgname = 'trg_faturamento_updated_at' AND tgrelid = 'faturamento'::regclass) THEN
        CREATE TRIGGER trg_faturamento_updated_at BEFORE UPDATE ON faturamento
            FOR EACH ROW EXECUTE FUNCTION set_updated_at();
    END IF;
END;
$$;

-- The stream's picks (daemon/stream/kinds/faturamento.py): a guia to bill, a guia to settle.
CREATE INDEX IF NOT EXISTS idx_faturamento_abertas   ON faturamento (id) WHERE status = 'aberta';
CREATE INDEX IF NOT EXISTS idx_faturamento_faturadas ON faturamento (id) WHERE status = 'faturada';
-- The consultas realised last (the ones the stream bills: the seed bills all it realised).
CREATE INDEX IF NOT EXISTS idx_consultas_realizadas  ON consultas (updated_at) WHERE status = 'realizada';
-- An internação's glosa to appeal (guia_recurso, once schema changes have added 'em_recurso').
CREATE INDEX IF NOT EXISTS idx_faturamento_glosadas  ON faturamento (id)
    WHERE status = 'glosada' AND internacao_id IS NOT NULL;
