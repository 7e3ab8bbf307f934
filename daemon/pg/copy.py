"""Stream COPY text (encoded by ``daemon.data.copytext``) into COPY ... FROM STDIN."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from daemon.pg.connection import Cursor

READ_SIZE = 1 << 20  # what psycopg2 asks read() for; our reader hands over whole chunks anyway


def copy_sql(table: str, columns: Sequence[str]) -> str:
    """Identifiers come from our own constants, never from input."""
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN"


class ChunkReader:
    """A file-like object over an iterator of already-encoded COPY chunks (bytes).

    ``copy_expert`` calls ``read()`` until it gets ``b""``: one COPY statement streams many
    chunks, so the server parses and inserts while the next chunk is being generated (the socket
    buffers the difference). An exception raised by the iterator aborts the COPY; psycopg2
    reports it as a generic error, so the original is kept in ``error`` for the caller.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            return next(self._chunks, b"")
        except BaseException as exc:  # includes StopRequested and KeyboardInterrupt
            self.error = exc
            raise

    def readline(self, size: int = -1) -> bytes:  # part of the file protocol; COPY never calls it
        return self.read(size)


def copy_stream(cur: Cursor, table: str, columns: Sequence[str], chunks: Iterable[bytes]) -> None:
    """COPY the concatenated ``chunks`` into ``table`` in one statement.

    Raises whatever the chunk iterator raised (e.g. StopRequested) once the server has aborted
    the COPY; the caller then rolls the transaction back.
    """
    reader = ChunkReader(iter(chunks))
    try:
        cur.copy_expert(copy_sql(table, columns), reader, size=READ_SIZE)
    except BaseException:
        if reader.error is not None:
            raise reader.error from None
        raise
