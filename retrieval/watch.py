"""Keep a Library in sync with its folder while a long-lived front end runs.

Two daemon threads, so that neither waits on the other:

* the *watch* thread sits in ``watchfiles.watch`` and only notes "something changed";
* the *refresh* thread calls ``Library.refresh`` (stat scan, re-read changed files, build a new
  snapshot beside the old one, swap it in), never on the caller's thread or event loop.

A refresh looks only at the paths the events named (on a deep tree a full stat scan costs
seconds); a full rescan runs at start, whenever the OS watch is (re-)armed, when an event names
a folder, and every ``full_scan_s`` as a safety net for events the OS dropped.

Events that arrive while a refresh runs mark the library dirty once more, so a burst of any size
costs the refresh in flight plus one. A file modified less than ``stable_ms`` ago is left
``pending`` by the library (it may still be being written); the refresh thread then retries at
the moment it becomes stable, so no further event is needed for it to be indexed.

Usage::

    with FolderWatcher(library, debounce_ms=300, stable_ms=200):
        ...  # answer questions; dropped, edited, renamed and deleted files are picked up

    watcher = FolderWatcher(library, on_refresh=print)
    watcher.start()
    ...
    watcher.stop()
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import watchfiles

from citebot.retrieval.loader import is_ignored_name

if TYPE_CHECKING:  # pragma: no cover
    from citebot.retrieval.library import Library, RefreshResult

log = logging.getLogger(__name__)

OnRefresh = Callable[["RefreshResult"], None]

# How often the watch thread wakes without events, to notice a folder that was deleted,
# recreated or replaced (inotify keeps watching the old, dead inode and would stay silent).
CHECK_FOLDER_MS = 500
# Back-off after an unexpected error, so a persistent fault logs and retries, not spins.
ERROR_BACKOFF_S = 1.0


def _env_force_polling() -> bool | None:
    """WATCHFILES_FORCE_POLLING as watchfiles reads it; None lets watchfiles decide (WSL etc.)."""
    value = os.environ.get("WATCHFILES_FORCE_POLLING")
    if not value:
        return None
    return value.lower() not in {"false", "disable", "disabled", "0", "no"}


class FolderWatcher:
    """Watch ``library.folder`` recursively and refresh the library when files change.

    ``debounce_ms`` caps how long watchfiles groups a stream of events before reporting them;
    ``stable_ms`` is how long a file's mtime must be in the past before it is read (a file still
    being written is never indexed half-written). ``on_refresh(result)`` is called on the refresh
    thread after every refresh; its exceptions are logged and ignored. ``start()`` and ``stop()``
    are idempotent and thread-safe; the object is also a context manager.
    """

    def __init__(
        self,
        library: "Library",
        *,
        debounce_ms: int = 300,
        stable_ms: int = 200,
        on_refresh: OnRefresh | None = None,
        force_polling: bool | None = None,
        poll_delay_ms: int = 300,
        step_ms: int = 50,
        create_folder: bool = True,
        full_scan_s: float = 300.0,
    ) -> None:
        if debounce_ms < 0 or stable_ms < 0 or step_ms <= 0 or poll_delay_ms <= 0 or not full_scan_s > 0:
            raise ValueError("debounce_ms and stable_ms must be >= 0; step_ms, poll_delay_ms and full_scan_s > 0")
        self.library = library
        self.folder = Path(library.folder)
        self._root = os.path.abspath(self.folder)
        self.debounce_ms = int(debounce_ms)
        self.stable_ms = int(stable_ms)
        self.step_ms = min(int(step_ms), max(self.debounce_ms, 1))
        self.on_refresh = on_refresh
        self.poll_delay_ms = int(poll_delay_ms)
        self.create_folder = create_folder
        self.full_scan_s = float(full_scan_s)
        env = _env_force_polling()
        self._force_polling = force_polling if force_polling is not None else bool(env)
        self.polling = self._force_polling
        # Diagnostics (read by tests and admin commands; written only by the refresh thread).
        self.refresh_count = 0
        self.last_result: "RefreshResult | None" = None
        self.last_error: BaseException | None = None
        self._lock = threading.Lock()  # start/stop
        self._cond = threading.Condition()  # dirty flag between the two threads
        self._dirty = False
        self._busy = False  # the refresh thread is running a refresh it took
        self._full = True  # the next refresh scans everything (else only ``_paths``)
        self._paths: set[str] = set()  # relative paths named by events since the last refresh
        self._retry: set[str] = set()  # files the last refreshes left pending
        self.full_refresh_count = 0
        self.armed = threading.Event()  # set once the OS watch is in place (and a rescan asked for)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def idle(self) -> bool:
        """No refresh running and none asked for: what a caller waits on, instead of sleeping,
        to know the watcher has caught up (the start and arming rescans included)."""
        with self._cond:
            return not self._dirty and not self._busy

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> "FolderWatcher":
        """Start watching (no-op if already running). Returns immediately."""
        with self._lock:
            if self._threads and not self._stop.is_set():
                return self
            self._stop = threading.Event()
            self._dirty = True  # catch up with anything that changed before we started
            self._full = True
            self._threads = [
                threading.Thread(target=self._watch_loop, args=(self._stop,), name="citebot-watch", daemon=True),
                threading.Thread(target=self._refresh_loop, args=(self._stop,), name="citebot-refresh", daemon=True),
            ]
            for thread in self._threads:
                thread.start()
            return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both threads and wait for them (no-op if not running).

        The watch thread stops within one ``step_ms``; a refresh in progress is allowed to
        finish (up to ``timeout``), since it cannot be interrupted half way — and should not be.
        """
        with self._lock:
            if not self._threads:
                return
            self._stop.set()
            with self._cond:
                self._cond.notify_all()
            deadline = time.monotonic() + timeout
            for thread in self._threads:
                if thread is threading.current_thread():
                    continue  # stop() from on_refresh: the thread ends by itself
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    log.warning("folder watcher thread %s still busy after %.1f s; leaving it (daemon)",
                                thread.name, timeout)
            self._threads = []

    def __enter__(self) -> "FolderWatcher":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def request_refresh(self) -> None:
        """Ask for a full refresh soon (on the refresh thread), e.g. after writing a file ourselves."""
        with self._cond:
            self._dirty = True
            self._full = True
            self._cond.notify_all()

    def _request_paths(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        """Ask for a refresh of the paths ``changes`` name (a full one when one is the folder
        itself or lies outside it)."""
        paths = set()
        for _, path in changes:
            relative = os.path.relpath(path, self._root) if path.startswith(self._root) else ".."
            if relative == "." or relative.startswith(".."):
                self.request_refresh()
                return
            paths.add(relative.replace(os.sep, "/"))
        with self._cond:
            self._dirty = True
            self._paths |= paths
            self._cond.notify_all()

    # --- the watch thread ---------------------------------------------------------------------

    def _identity(self) -> tuple[int, int] | None:
        """(device, inode) of the folder, or None if it is missing or not a folder."""
        try:
            st = os.stat(self.folder)
        except OSError:
            return None
        return (st.st_dev, st.st_ino) if os.path.isdir(self.folder) else None

    def _ensure_folder(self, stop: threading.Event, may_create: bool) -> tuple[int, int] | None:
        """Wait until the folder exists; None if stopped.

        Only a folder missing at start is created: one deleted while we run may be in the middle
        of being swapped (``rm -r articles && mv staging articles``), and recreating it would
        make that ``mv`` land inside it.
        """
        created_tried = not (self.create_folder and may_create)
        reported = False
        while not stop.is_set():
            identity = self._identity()
            if identity is not None:
                if reported:
                    log.warning("articles folder %s is back; watching it again", self.folder)
                return identity
            if not created_tried:
                created_tried = True
                try:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    log.warning("articles folder %s did not exist; created it (drop .txt, .md or "
                                ".html files there)", self.folder)
                    continue
                except OSError as exc:
                    log.warning("articles folder %s does not exist and cannot be created (%s)",
                                self.folder, exc.strerror or exc)
            if not reported:
                reported = True
                log.warning("articles folder %s is missing; serving no articles until it appears",
                            self.folder)
                self.request_refresh()  # the library drops what it had and says why
            stop.wait(CHECK_FOLDER_MS / 1000)
        return None

    def _keep(self, change: watchfiles.Change, path: str) -> bool:
        """Drop events that only touch hidden or temp files (editor swap files, partial
        downloads, `/add`'s temp name): the loader ignores them, so they cannot change answers."""
        relative = os.path.relpath(path, self._root) if path.startswith(self._root) else path
        if relative == "." or relative.startswith(".."):
            return True
        return not any(is_ignored_name(part) for part in Path(relative).parts)

    def _watch_loop(self, stop: threading.Event) -> None:
        """Run watchfiles until stopped; restart it after errors or when the folder changes."""
        first = True
        while not stop.is_set():
            identity = self._ensure_folder(stop, may_create=first)
            first = False
            if identity is None:
                return
            armed = False
            try:
                for changes in watchfiles.watch(
                    self._root,
                    watch_filter=self._keep,
                    debounce=self.debounce_ms,
                    step=self.step_ms,
                    stop_event=stop,
                    rust_timeout=CHECK_FOLDER_MS,
                    yield_on_timeout=True,
                    raise_interrupt=False,
                    force_polling=self.polling,
                    poll_delay_ms=self.poll_delay_ms,
                    recursive=True,
                    ignore_permission_denied=True,
                ):
                    if not armed:
                        # First pass: the OS watch is now armed; rescan for anything written
                        # between the last scan and this moment, which raised no event for us.
                        armed = True
                        self.request_refresh()
                        self.armed.set()
                    elif changes:
                        self._request_paths(changes)
                    if self._identity() != identity:
                        # Deleted, recreated or swapped for another folder: the OS watch is
                        # on the old one. Re-arm on the new one and rescan.
                        log.warning("articles folder %s was removed or replaced; re-watching", self.folder)
                        self.request_refresh()
                        break
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any fault
                if stop.is_set():
                    return
                if self._identity() is None:
                    continue  # vanished under us: _ensure_folder reports and waits
                if not self.polling and not isinstance(exc, PermissionError):
                    # inotify limits (max_user_watches/instances), unsupported file systems...
                    log.warning("watching %s with OS notifications failed (%s); falling back to "
                                "polling every %d ms", self.folder, exc, self.poll_delay_ms)
                    self.polling = True
                else:
                    log.error("watching %s failed (%s); retrying in %.0f s", self.folder, exc, ERROR_BACKOFF_S)
                    stop.wait(ERROR_BACKOFF_S)
                self.request_refresh()  # events may have been missed while re-arming

    # --- the refresh thread -------------------------------------------------------------------

    def _retry_delay(self, pending: tuple[str, ...]) -> float:
        """Seconds until the pending files have been still for ``stable_ms``.

        Waiting for the *last* of them folds a burst into one rebuild; the cap keeps a long
        copy (files arriving for many seconds) from holding back the ones already complete.
        A file dated in the future is settled by the library once two scans ``stable_ms``
        apart see it unchanged, so it is due ``stable_ms`` from now, not at its date (waiting
        for that meant a rescan every cap until then).
        """
        stable = self.stable_ms / 1000
        cap = max(stable, self.debounce_ms / 1000, 0.05)
        now = time.time()
        due = 0.0
        for path in pending:
            try:
                mtime = os.stat(self.folder / path).st_mtime
            except OSError:
                return 0.02  # gone or renamed: rescan soon
            due = max(due, min(mtime, now) + stable)
        return min(max(due - now + 0.01, 0.02), cap)

    def _refresh_once(self, paths: set[str] | None) -> float | None:
        """One refresh (of ``paths`` only, unless None); returns seconds until a retry is
        needed, or None."""
        try:
            result = self.library.refresh(settle_seconds=self.stable_ms / 1000, paths=paths)
        except Exception as exc:  # noqa: BLE001 - log it, keep watching, try again later
            self.last_error = exc
            log.exception("refreshing articles from %s failed; will retry", self.folder)
            with self._cond:
                self._full = True  # the paths it was given are not lost: the retry scans all
            return ERROR_BACKOFF_S
        self.refresh_count += 1
        if paths is None:
            self.full_refresh_count += 1
            self._retry = set(result.pending)
        else:
            self._retry = (self._retry - paths) | set(result.pending)
        self.last_result = result
        if result.any_change:
            log.info("articles updated from %s: %d added, %d changed, %d removed (%.0f ms)",
                     self.folder, len(result.added), len(result.changed), len(result.removed),
                     self.library.last_refresh_ms)
        if self.on_refresh is not None:
            try:
                self.on_refresh(result)
            except Exception:  # noqa: BLE001
                log.exception("on_refresh callback failed")
        return self._retry_delay(tuple(self._retry)) if self._retry else None

    def _refresh_loop(self, stop: threading.Event) -> None:
        retry_at: float | None = None
        full_at = time.monotonic() + self.full_scan_s
        while True:
            with self._cond:
                while not stop.is_set() and not self._dirty:
                    now = time.monotonic()
                    if now >= full_at:
                        self._full = True  # the safety net: events the OS dropped
                        break
                    if retry_at is not None and now >= retry_at:
                        break
                    self._cond.wait(min(full_at, retry_at if retry_at is not None else full_at) - now)
                if stop.is_set():
                    return
                full, paths = self._full, self._paths | self._retry
                self._dirty, self._full, self._paths = False, False, set()
                self._busy = True
            try:
                delay = self._refresh_once(None if full else paths)
            finally:
                with self._cond:
                    self._busy = False
            if full:
                full_at = time.monotonic() + self.full_scan_s
            retry_at = None if delay is None else time.monotonic() + delay


__all__ = ["FolderWatcher"]
