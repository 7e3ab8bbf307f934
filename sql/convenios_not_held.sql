-- Convênios a paciente (parameter) is not enrolled in yet.
SELECT c.id FROM convenios c
WHERE NOT EXISTS (SELECT 1 FROM pacientes_convenios pc WHERE pc.paciente_id = %s AND pc.convenio_id = c.id)
ORDER BY c.id;
