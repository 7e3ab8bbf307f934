-- Lookup convênios every database starts with. CNPJs carry valid check digits.
INSERT INTO convenios (nome, cnpj, tipo, cobertura) VALUES
    ('SUS',       '00.394.544/0001-85', 'publico', 'nacional'),
    ('SaudePlus', '11.222.333/0001-81', 'privado', 'nacional')
ON CONFLICT (cnpj) DO NOTHING;
