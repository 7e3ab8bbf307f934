-- Hospital OLTP schema: seven tables, BIGSERIAL keys, FKs ON UPDATE CASCADE ON DELETE RESTRICT,
-- created_at/updated_at on every table. Idempotent: safe to run again (bootstrap holds an
-- advisory lock so concurrent replicas run it one at a time).

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE IF NOT EXISTS pacientes (
    id            BIGSERIAL PRIMARY KEY,
    nome          VARCHAR(150) NOT NULL,
    nascimento    DATE         NOT NULL,
    cpf           CHAR(14)     NOT NULL,
    telefone      VARCHAR(20),
    endereco      TEXT,
    data_cadastro TIMESTAMPTZ  NOT NULL DEFAULT now(),
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT pacientes_cpf_key UNIQUE (cpf)
);

CREATE TABLE IF NOT EXISTS medicos (
    id            BIGSERIAL PRIMARY KEY,
    nome          VARCHAR(150) NOT NULL,
    crm           VARCHAR(12)  NOT NULL,
    especialidade VARCHAR(80)  NOT NULL,
    telefone      VARCHAR(20),
    created_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT medicos_crm_key UNIQUE (crm)
);

CREATE TABLE IF NOT EXISTS convenios (
    id         BIGSERIAL PRIMARY KEY,
    nome       VARCHAR(120) NOT NULL,
    cnpj       CHAR(18)     NOT NULL,
    tipo       VARCHAR(30)  NOT NULL,
    cobertura  VARCHAR(30)  NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT convenios_cnpj_key UNIQUE (cnpj)
);

CREATE TABLE IF NOT EXISTS pacientes_convenios (
    id              BIGSERIAL PRIMARY KEY,
    paciente_id     BIGINT      NOT NULL REFERENCES pacientes (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    convenio_id     BIGINT      NOT NULL REFERENCES convenios (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    numero_carteira VARCHAR(30) NOT NULL,
    validade        DATE        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pacientes_convenios_paciente_convenio_key UNIQUE (paciente_id, convenio_id)
);

CREATE TABLE IF NOT EXISTS consultas (
    id          BIGSERIAL PRIMARY KEY,
    paciente_id BIGINT      NOT NULL REFERENCES pacientes (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    medico_id   BIGINT      NOT NULL REFERENCES medicos (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    data        TIMESTAMPTZ NOT NULL,
    motivo      TEXT        NOT NULL,
    status      VARCHAR(12) NOT NULL DEFAULT 'agendada',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT consultas_status_check
        CHECK (status IN ('agendada', 'realizada', 'cancelada', 'faltou'))
);

CREATE TABLE IF NOT EXISTS exames (
    id          BIGSERIAL PRIMARY KEY,
    paciente_id BIGINT      NOT NULL REFERENCES pacientes (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    tipo_exame  VARCHAR(60) NOT NULL,
    data        TIMESTAMPTZ NOT NULL,
    resultado   TEXT,
    laudo_assinado_em TIMESTAMPTZ,  -- when the report was signed (not in the predecessor: see below)
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS internacoes (
    id           BIGSERIAL PRIMARY KEY,
    paciente_id  BIGINT      NOT NULL REFERENCES pacientes (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    data_entrada TIMESTAMPTZ NOT NULL,
    data_saida   TIMESTAMPTZ,
    motivo       TEXT        NOT NULL,
    quarto       VARCHAR(10) NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT internacoes_datas_check CHECK (data_saida IS NULL OR data_saida >= data_entrada)
);

-- exames.laudo_assinado_em: signing a laudo changes this column and leaves a long `resultado`
-- unchanged (an unchanged TOAST value, which Debezium renders as a placeholder under REPLICA
-- IDENTITY DEFAULT). Added only when missing, to databases bootstrapped before it existed.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'exames'::regclass AND attname = 'laudo_assinado_em' AND NOT attisdropped) THEN
        ALTER TABLE exames ADD COLUMN laudo_assinado_em TIMESTAMPTZ;
    END IF;
END;
$$;

-- One updated_at trigger per table. Created only when missing (CREATE OR REPLACE TRIGGER needs
-- PostgreSQL 14; this works from 11 on, and takes no table lock when the trigger exists).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['pacientes', 'medicos', 'convenios', 'pacientes_convenios', 'consultas',
                             'exames', 'internacoes']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger
                       WHERE tgname = 'trg_' || t || '_updated_at' AND tgrelid = t::regclass) THEN
            EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                           'trg_' || t || '_updated_at', t);
        END IF;
    END LOOP;
END;
$$;

-- Long exam reports are stored out of line uncompressed (TOAST), as large clinical texts are in
-- production: the case where CDC tools lose unchanged values without REPLICA IDENTITY FULL.
-- Changed only when needed (ALTER TABLE locks the table, and other replicas may be streaming).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = 'exames'::regclass AND attname = 'resultado' AND attstorage <> 'e') THEN
        ALTER TABLE exames ALTER COLUMN resultado SET STORAGE EXTERNAL;
    END IF;
END;
$$;
