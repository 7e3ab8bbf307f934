-- SCHEMA_EXTRAS=sinais_vitais: vital signs of admitted patients, range-partitioned by month of
-- measurement. The primary key includes the partition key, as PostgreSQL requires; ids come from
-- one sequence, so `id` alone is unique too. The daemon creates each month's partition ahead of
-- time; this file creates only the parent. Idempotent.
CREATE TABLE IF NOT EXISTS sinais_vitais (
    id                  BIGSERIAL,
    internacao_id       BIGINT       NOT NULL REFERENCES internacoes (id) ON UPDATE CASCADE ON DELETE RESTRICT,
    medido_em           TIMESTAMPTZ  NOT NULL,
    pressao_sistolica   SMALLINT     NOT NULL,
    pressao_diastolica  SMALLINT     NOT NULL,
    frequencia_cardiaca SMALLINT     NOT NULL,
    temperatura         NUMERIC(3,1) NOT NULL,
    saturacao           SMALLINT     NOT NULL,
    created_at          TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (id, medido_em)
) PARTITION BY RANGE (medido_em);
