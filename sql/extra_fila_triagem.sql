-- SCHEMA_EXTRAS=fila_triagem: the emergency triage queue (Manchester risk classification). It is
-- a staging table: arrivals are inserted, and the whole queue is emptied with TRUNCATE when a
-- shift hands over, which Debezium delivers as an `op: t` event. Nothing references it, so
-- TRUNCATE needs no CASCADE. Idempotent.
CREATE TABLE IF NOT EXISTS fila_triagem (
    id            BIGSERIAL    PRIMARY KEY,
    paciente_id   BIGINT       NOT NULL REFERENCES pacientes (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    classificacao VARCHAR(10)  NOT NULL,
    queixa        VARCHAR(200) NOT NULL,
    chegada       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT fila_triagem_classificacao_check
        CHECK (classificacao IN ('vermelho', 'laranja', 'amarelo', 'verde', 'azul'))
);
