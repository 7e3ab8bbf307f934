-- The nine named indexes of the predecessor (idx_pacientes_cpf duplicates the UNIQUE index on
-- purpose: users' tooling looks for the name).
CREATE INDEX IF NOT EXISTS idx_pacientes_cpf        ON pacientes (cpf);
CREATE INDEX IF NOT EXISTS idx_medicos_crm          ON medicos (crm);
CREATE INDEX IF NOT EXISTS idx_consultas_paciente   ON consultas (paciente_id);
CREATE INDEX IF NOT EXISTS idx_consultas_medico     ON consultas (medico_id);
CREATE INDEX IF NOT EXISTS idx_consultas_data       ON consultas (data);
CREATE INDEX IF NOT EXISTS idx_exames_paciente      ON exames (paciente_id);
CREATE INDEX IF NOT EXISTS idx_exames_data          ON exames (data);
CREATE INDEX IF NOT EXISTS idx_internacoes_paciente ON internacoes (paciente_id);
CREATE INDEX IF NOT EXISTS idx_internacoes_datas    ON internacoes (data_entrada, data_saida);

-- The stream's picks: "a row in state X" is found through an index made for that state, so the
-- cost of a pick stays flat as the tables grow (partial: only the open rows are indexed).
CREATE INDEX IF NOT EXISTS idx_consultas_agendadas  ON consultas (id) WHERE status = 'agendada';
CREATE INDEX IF NOT EXISTS idx_exames_pendentes     ON exames (id) WHERE resultado IS NULL;
CREATE INDEX IF NOT EXISTS idx_internacoes_abertas  ON internacoes (id) WHERE data_saida IS NULL;
CREATE INDEX IF NOT EXISTS idx_exames_a_assinar      ON exames (id) WHERE resultado IS NOT NULL AND laudo_assinado_em IS NULL;
-- The retention deletes take the oldest row first, ties by id (their floor is a (time, id) pair).
CREATE INDEX IF NOT EXISTS idx_consultas_cancelamento ON consultas (updated_at, id) WHERE status = 'cancelada';
CREATE INDEX IF NOT EXISTS idx_exames_assinatura      ON exames (laudo_assinado_em, id) WHERE laudo_assinado_em IS NOT NULL;
-- Their single-column predecessors, in databases bootstrapped before these.
DROP INDEX IF EXISTS idx_consultas_canceladas;
DROP INDEX IF EXISTS idx_exames_assinados;
