-- hospital_sim_cpf(id): the CPF the seed gives row ``id`` (daemon.data.brazil.cpf_for_index),
-- so a stream INSERT derives it inside its one statement. The permutation constants are passed
-- in from daemon.data.brazil (one declaration); hence mod(), never the percent operator.
-- PL/pgSQL: its simple expressions are planned once per session (a SQL function with a CTE
-- would be planned on every call).
CREATE OR REPLACE FUNCTION hospital_sim_cpf(idx BIGINT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    digits TEXT := lpad(mod(%(a)s::bigint * idx + %(b)s, %(space)s)::text, 9, '0');
    total  INT;
    rest   INT;
BEGIN
    FOR round IN 1..2 LOOP  -- the two check digits: weights 10..2, then 11..2 over one more digit
        total := 0;
        FOR i IN 1..8 + round LOOP
            total := total + substr(digits, i, 1)::int * (10 + round - i);
        END LOOP;
        rest := mod(total, 11);
        digits := digits || CASE WHEN rest < 2 THEN 0 ELSE 11 - rest END;
    END LOOP;
    RETURN substr(digits, 1, 3) || '.' || substr(digits, 4, 3) || '.' || substr(digits, 7, 3) || '-'
           || substr(digits, 10, 2);
END;
$$;
