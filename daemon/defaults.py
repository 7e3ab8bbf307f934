"""Named defaults, each with the reason for its value."""

from __future__ import annotations

# The predecessor's cadence: one tick every 2 s plus up to 400 ms of jitter.
STREAM_INTERVAL_SECONDS = 2.0
MAX_JITTER_MS = 400
# The predecessor ran one event per tick (~30-50 events/min at the default interval).
EVENTS_PER_TICK = 1
# Rows per COPY chunk while seeding: large enough to amortise round trips, small enough for progress.
BATCH_SIZE = 5000
# The predecessor's summary cadence: "Stream ciclo 50: ...".
SUMMARY_EVERY_TICKS = 50

# The predecessor's seed volumes (~13.4k rows).
SEED_VOLUMES = {
    "pacientes": 2000,
    "medicos": 200,
    "convenios": 12,
    "pacientes_convenios": 2500,
    "consultas": 4000,
    "exames": 3500,
    "internacoes": 1200,
}

# The predecessor's insert mix (relative weights).
INSERT_WEIGHTS = {"consultas": 55, "exames": 25, "internacoes": 15, "pacientes": 10}
# Convênio enrolments join the inserts unless the mix is insert-only (then: the predecessor exactly).
ENROLMENT_WEIGHT = {"pacientes_convenios": 5}
# A CDC source must update and delete too; inserts still dominate as in a real hospital system.
OP_WEIGHTS = {"insert": 65, "update": 30, "delete": 5}
UPDATE_WEIGHTS = {
    "consulta_status": 40,
    "exame_resultado": 25,
    "internacao_alta": 15,
    "paciente_contato": 10,
    "convenio_renovacao": 10,
}
DELETE_WEIGHTS = {"convenio_cancelamento": 50, "consulta_retencao": 50}
# Retention removes cancelled consultas older than this (a quarter, like a clinic's housekeeping job).
RETENTION_DAYS = 90
# A quarter of exam results are long reports (several kB): out-of-line TOAST storage, where CDC loses values.
TOAST_SHARE = 0.25
# One writer connection reproduces the predecessor; more go past one connection's commit ceiling.
WRITERS = 1
# Probes and metrics on the conventional metrics port.
HTTP_PORT = 8080

# Connections: fail fast on a dead host, never let one statement hang the stream.
PG_CONNECT_TIMEOUT_SECONDS = 5
PG_STATEMENT_TIMEOUT_MS = 30_000
APPLICATION_NAME = "hospital-sim"

# Reconnect backoff: start small, cap at 30 s so an outage is noticed within one Kubernetes probe period.
RETRY_INITIAL_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0

# Graceful stop: well inside Kubernetes' default 30 s terminationGracePeriodSeconds.
SHUTDOWN_TIMEOUT_SECONDS = 10.0

# Log files: 10 MB each, five old files kept per log.
LOG_ROTATION_MB = 10
LOG_RETENTION_FILES = 5

# Advisory-lock key shared by every replica for bootstrap and seed ("HOSPSIM" in ASCII, fits int8).
ADVISORY_LOCK_KEY = 0x484F535053494D
