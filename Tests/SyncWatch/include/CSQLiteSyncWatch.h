// For the storage tests: which writes of a SQLite WAL reached the disk. A VFS that passes every
// call on to SQLite's default one and counts, for the WAL files whose path starts with a given
// prefix, the fsyncs SQLite asks for and the writes since the last of them.
#ifndef CSQLiteSyncWatch_h
#define CSQLiteSyncWatch_h

/// Makes the counting VFS SQLite's default, counting for WAL files opened from now on whose path
/// starts with `prefix` (copied; at most 1,023 bytes), and zeroes the counts. Returns 0, or
/// SQLite's error code. Connections opened before keep the VFS they had.
int onecard_syncwatch_start(const char *prefix);

/// Makes SQLite's own VFS the default again. Files opened meanwhile stay counted until closed.
void onecard_syncwatch_stop(void);

/// The fsyncs of watched WAL files since the start.
long onecard_syncwatch_wal_syncs(void);

/// The writes to watched WAL files since the last fsync of the file written (summed over them):
/// 0 when everything written to them is on disk.
long onecard_syncwatch_wal_unsynced_writes(void);

#endif
