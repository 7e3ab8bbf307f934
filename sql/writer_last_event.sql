-- The last event each of a writer's rows holds (after a lost connection: which of the events in
-- flight committed? event seq wrote row <writer key>.<seq modulo the depth>).
SELECT writer, seq, pk, txid, changes FROM hospital_sim_writers WHERE writer = ANY(%(writers)s);
