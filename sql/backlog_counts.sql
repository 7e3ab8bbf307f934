-- Rows in each open lifecycle (each count is an index-only scan of the partial index made for it).
SELECT
    (SELECT count(*) FROM consultas WHERE status = 'agendada')   AS agendadas,
    (SELECT count(*) FROM exames WHERE resultado IS NULL)        AS pendentes,
    (SELECT count(*) FROM internacoes WHERE data_saida IS NULL)  AS internados,
    (SELECT count(*) FROM pacientes_convenios)                   AS carteiras,
    (SELECT count(*) FROM consultas WHERE status = 'cancelada')  AS canceladas,
    (SELECT count(*) FROM exames WHERE resultado IS NOT NULL AND laudo_assinado_em IS NULL) AS a_assinar,
    (SELECT count(*) FROM exames WHERE laudo_assinado_em IS NOT NULL) AS assinados;
