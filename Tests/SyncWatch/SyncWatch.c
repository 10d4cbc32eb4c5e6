// The counting VFS of CSQLiteSyncWatch.h: a shim in front of SQLite's default VFS. Each file it
// opens is a WatchedFile followed by the default VFS's own file, to which every call goes.
#include "CSQLiteSyncWatch.h"
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

typedef struct WatchedFile {
    sqlite3_file base;
    sqlite3_file *real;
    int watched;
    atomic_long unsynced;
} WatchedFile;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs watch_vfs;
static char prefix[1024];
static atomic_long wal_syncs;
static atomic_long wal_unsynced;

#define REAL(f) (((WatchedFile *)(f))->real)

static int w_close(sqlite3_file *f) {
    WatchedFile *w = (WatchedFile *)f;
    if (w->watched) atomic_fetch_sub(&wal_unsynced, atomic_exchange(&w->unsynced, 0));
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int w_read(sqlite3_file *f, void *p, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), p, n, o); }
static int w_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 o) {
    WatchedFile *w = (WatchedFile *)f;
    int rc = REAL(f)->pMethods->xWrite(REAL(f), p, n, o);
    if (w->watched && rc == SQLITE_OK) {
        atomic_fetch_add(&w->unsynced, 1);
        atomic_fetch_add(&wal_unsynced, 1);
    }
    return rc;
}
static int w_truncate(sqlite3_file *f, sqlite3_int64 size) { return REAL(f)->pMethods->xTruncate(REAL(f), size); }
static int w_sync(sqlite3_file *f, int flags) {
    WatchedFile *w = (WatchedFile *)f;
    // Counted before the call: writes that land meanwhile (another thread) count as unsynced.
    long pending = w->watched ? atomic_exchange(&w->unsynced, 0) : 0;
    int rc = REAL(f)->pMethods->xSync(REAL(f), flags);
    if (w->watched) {
        if (rc == SQLITE_OK) {
            atomic_fetch_sub(&wal_unsynced, pending);
            atomic_fetch_add(&wal_syncs, 1);
        } else {
            atomic_fetch_add(&w->unsynced, pending);
        }
    }
    return rc;
}
static int w_file_size(sqlite3_file *f, sqlite3_int64 *size) { return REAL(f)->pMethods->xFileSize(REAL(f), size); }
static int w_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int w_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int w_check_reserved(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }
static int w_file_control(sqlite3_file *f, int op, void *arg) { return REAL(f)->pMethods->xFileControl(REAL(f), op, arg); }
static int w_sector_size(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int w_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int w_shm_map(sqlite3_file *f, int i, int n, int extend, void volatile **p) { return REAL(f)->pMethods->xShmMap(REAL(f), i, n, extend, p); }
static int w_shm_lock(sqlite3_file *f, int offset, int n, int flags) { return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags); }
static void w_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int w_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int w_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, p); }
static int w_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

static const sqlite3_io_methods watch_io = {
    3, w_close, w_read, w_write, w_truncate, w_sync, w_file_size, w_lock, w_unlock, w_check_reserved,
    w_file_control, w_sector_size, w_device, w_shm_map, w_shm_lock, w_shm_barrier, w_shm_unmap, w_fetch, w_unfetch,
};

static int w_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out) {
    (void)vfs;
    WatchedFile *w = (WatchedFile *)f;
    w->real = (sqlite3_file *)(w + 1);
    w->watched = (flags & SQLITE_OPEN_WAL) && name && strncmp(name, prefix, strlen(prefix)) == 0;
    atomic_init(&w->unsynced, 0);
    int rc = real_vfs->xOpen(real_vfs, name, w->real, flags, out);
    // SQLite calls xClose only on a file whose pMethods is set.
    w->base.pMethods = rc == SQLITE_OK && w->real->pMethods ? &watch_io : NULL;
    return rc;
}
static int w_delete(sqlite3_vfs *v, const char *n, int dirSync) { (void)v; return real_vfs->xDelete(real_vfs, n, dirSync); }
static int w_access(sqlite3_vfs *v, const char *n, int flags, int *out) { (void)v; return real_vfs->xAccess(real_vfs, n, flags, out); }
static int w_full_pathname(sqlite3_vfs *v, const char *n, int size, char *out) { (void)v; return real_vfs->xFullPathname(real_vfs, n, size, out); }
static void *w_dlopen(sqlite3_vfs *v, const char *n) { (void)v; return real_vfs->xDlOpen(real_vfs, n); }
static void w_dlerror(sqlite3_vfs *v, int n, char *out) { (void)v; real_vfs->xDlError(real_vfs, n, out); }
static void (*w_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) { (void)v; return real_vfs->xDlSym(real_vfs, h, s); }
static void w_dlclose(sqlite3_vfs *v, void *h) { (void)v; real_vfs->xDlClose(real_vfs, h); }
static int w_randomness(sqlite3_vfs *v, int n, char *out) { (void)v; return real_vfs->xRandomness(real_vfs, n, out); }
static int w_sleep(sqlite3_vfs *v, int us) { (void)v; return real_vfs->xSleep(real_vfs, us); }
static int w_current_time(sqlite3_vfs *v, double *out) { (void)v; return real_vfs->xCurrentTime(real_vfs, out); }
static int w_last_error(sqlite3_vfs *v, int n, char *out) { (void)v; return real_vfs->xGetLastError(real_vfs, n, out); }
static int w_current_time64(sqlite3_vfs *v, sqlite3_int64 *out) { (void)v; return real_vfs->xCurrentTimeInt64(real_vfs, out); }
static int w_set_syscall(sqlite3_vfs *v, const char *n, sqlite3_syscall_ptr p) { (void)v; return real_vfs->xSetSystemCall(real_vfs, n, p); }
static sqlite3_syscall_ptr w_get_syscall(sqlite3_vfs *v, const char *n) { (void)v; return real_vfs->xGetSystemCall(real_vfs, n); }
static const char *w_next_syscall(sqlite3_vfs *v, const char *n) { (void)v; return real_vfs->xNextSystemCall(real_vfs, n); }

int onecard_syncwatch_start(const char *p) {
    if (!real_vfs) {
        int rc = sqlite3_initialize();
        if (rc != SQLITE_OK) return rc;
        real_vfs = sqlite3_vfs_find(NULL);
        if (!real_vfs || real_vfs->iVersion < 3) return SQLITE_ERROR;
        watch_vfs = (sqlite3_vfs){
            3, (int)sizeof(WatchedFile) + real_vfs->szOsFile, real_vfs->mxPathname, NULL, "onecard-syncwatch", NULL,
            w_open, w_delete, w_access, w_full_pathname, w_dlopen, w_dlerror, w_dlsym, w_dlclose,
            w_randomness, w_sleep, w_current_time, w_last_error, w_current_time64,
            w_set_syscall, w_get_syscall, w_next_syscall,
        };
    }
    strncpy(prefix, p, sizeof prefix - 1);
    atomic_store(&wal_syncs, 0);
    atomic_store(&wal_unsynced, 0);
    return sqlite3_vfs_register(&watch_vfs, 1);
}

void onecard_syncwatch_stop(void) {
    if (real_vfs) sqlite3_vfs_register(real_vfs, 1);
}

long onecard_syncwatch_wal_syncs(void) { return atomic_load(&wal_syncs); }
long onecard_syncwatch_wal_unsynced_writes(void) { return atomic_load(&wal_unsynced); }
