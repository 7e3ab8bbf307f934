SELECT 'pacientes' AS tabela, count(*) AS n FROM pacientes
UNION ALL SELECT 'medicos', count(*) FROM medicos
UNION ALL SELECT 'convenios', count(*) FROM convenios
UNION ALL SELECT 'pacientes_convenios', count(*) FROM pacientes_convenios
UNION ALL SELECT 'consultas', count(*) FROM consultas
UNION ALL SELECT 'exames', count(*) FROM exames
UNION ALL SELECT 'internacoes', count(*) FROM internacoes;
