-- Row presence per table (EXISTS, not count: cheap on large tables). Convênios count only beyond
-- the lookup rows, which bootstrap inserts.
SELECT 'pacientes' AS tabela, EXISTS (SELECT 1 FROM pacientes) AS has_rows
UNION ALL SELECT 'medicos', EXISTS (SELECT 1 FROM medicos)
UNION ALL SELECT 'pacientes_convenios', EXISTS (SELECT 1 FROM pacientes_convenios)
UNION ALL SELECT 'consultas', EXISTS (SELECT 1 FROM consultas)
UNION ALL SELECT 'exames', EXISTS (SELECT 1 FROM exames)
UNION ALL SELECT 'internacoes', EXISTS (SELECT 1 FROM internacoes);
