-- hospital_sim_cpf(id): the CPF the seed gives row ``id`` (daemon.data.brazil.cpf_for_index),
-- so a stream INSERT derives it inside its one statement. The permutation constants are passed
-- in from daemon.data.brazil (one declaration); hence mod(), never the percent operator.
CREATE OR REPLACE FUNCTION hospital_sim_cpf(idx BIGINT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    WITH base AS (
        SELECT lpad(mod(%(a)s::bigint * idx + %(b)s, %(space)s)::text, 9, '0') AS digits
    ), first AS (
        SELECT digits || (SELECT CASE WHEN mod(sum(substr(digits, i, 1)::int * (11 - i)), 11) < 2 THEN 0
                                      ELSE 11 - mod(sum(substr(digits, i, 1)::int * (11 - i)), 11) END
                          FROM generate_series(1, 9) AS i) AS digits
        FROM base
    ), second AS (
        SELECT digits || (SELECT CASE WHEN mod(sum(substr(digits, i, 1)::int * (12 - i)), 11) < 2 THEN 0
                                      ELSE 11 - mod(sum(substr(digits, i, 1)::int * (12 - i)), 11) END
                          FROM generate_series(1, 10) AS i) AS digits
        FROM first
    )
    SELECT substr(digits, 1, 3) || '.' || substr(digits, 4, 3) || '.' || substr(digits, 7, 3) || '-'
           || substr(digits, 10, 2)
    FROM second
$$;
