-- Guias in each open step of their lifecycle (SCHEMA_EXTRAS=faturamento; partial indexes).
SELECT
    (SELECT count(*) FROM faturamento WHERE status = 'aberta')   AS guias_abertas,
    (SELECT count(*) FROM faturamento WHERE status = 'faturada') AS guias_faturadas;
