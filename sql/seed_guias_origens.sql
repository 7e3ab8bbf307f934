-- What the seed bills (SCHEMA_EXTRAS=faturamento): every realised consulta and every internação,
-- with the convênio of the patient's first card (SUS without one). Hash joins only: it also runs
-- while a large seed's indexes are dropped.
WITH sus AS (SELECT id FROM convenios WHERE cnpj = '00.394.544/0001-85'),
titular AS (
    SELECT DISTINCT ON (paciente_id) paciente_id, convenio_id FROM pacientes_convenios ORDER BY paciente_id, id
)
SELECT 'consulta' AS origem, c.id, c.data, NULL::timestamptz AS alta,
       coalesce(t.convenio_id, (SELECT id FROM sus)) AS convenio_id
FROM consultas c LEFT JOIN titular t USING (paciente_id)
WHERE c.status = 'realizada'
UNION ALL
SELECT 'internacao', i.id, i.data_entrada, i.data_saida, coalesce(t.convenio_id, (SELECT id FROM sus))
FROM internacoes i LEFT JOIN titular t USING (paciente_id)
ORDER BY 1, 2;
