//go:build ignore

/*
 * go_part.c — the Go part is loaded only into a process that has tables to compute.
 *
 * libcrashguard.so is the C part: handler, interposers, cache reader.  The Go part — the
 * c-shared library build.sh makes with `go build -buildmode=c-shared` — travels inside it
 * as the non-allocated section .crashguard_go, so the loader neither maps nor relocates it
 * in the processes that never need it (a warm start: every module's tables were cached;
 * research go-cshared-preload §4: merely loading a Go c-shared library costs ~0.3 ms and
 * ~0.5 MiB per process even when its runtime never starts).
 *
 * When the constructor decides Go must run, the Go part is dlopen'ed RTLD_LOCAL (none of
 * its symbols can interpose the host's, and none of ours are exported for it) from a copy
 * of the image in the cache directory, go-part-<content hash>.so: written once, atomically,
 * then shared through the page cache by every later cold start; loaded through
 * /proc/self/fd, like the memfd below, so /proc is needed.  Where no cache directory
 * is writable or executable, the image is copied into a memfd instead (~3 ms for 3.6 MB).
 * The Go part finds our struct cg_seam through the note below (seam.h).  Load-time code.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose.h"
#include "seam.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: executable memfd under vm.memfd_noexec=1 */
#endif
/* build.sh: a hash of the Go part's image, naming its copy in the cache directory. */
#ifndef CG_GO_PART_ID
#define CG_GO_PART_ID ""
#endif
#define GO_PART_SECTION ".crashguard_go"

__attribute__((visibility("hidden"), used)) struct cg_seam cg_seam = {
    .version = CG_SEAM_VERSION,
    .size = sizeof(struct cg_seam),
    .modules = cg_modules,
    .module_count = &cg_module_count,
    .config = &cg_config,
    .global_note = cg_global_note,
    .global_note_set = &cg_global_note_set,
    .precompute_done = &cg_precompute_done,
    .wait_for_module_change = cg_wait_for_module_change,
    .module_change_handled = cg_module_change_handled,
};

/* The note through which the Go part finds cg_seam (seam.h): its descriptor is the distance
 * from itself to cg_seam, a link-time constant, so no relocation and no exported symbol. */
#define CG_STR2(x) #x
#define CG_STR(x) CG_STR2(x)
__asm__(".pushsection .note.crashguard,\"a\",@note\n"
        "\t.balign 4\n"
        "\t.long 11, 8, " CG_STR(CG_SEAM_NOTE_TYPE) "\n"
        "\t.asciz \"" CG_SEAM_NOTE_NAME "\"\n"
        "\t.balign 4\n"
        "1:\t.quad cg_seam - 1b\n"
        "\t.popsection\n");

/* The thread inside dlopen of the Go part: the Go runtime's start-up (its first thread, its
 * signal handlers) runs there, before any of its threads exists to be recognised. */
static _Atomic pid_t loading_tid;
static char go_part_path[CG_CACHE_DIR_MAX + 64];

int cg_called_by_go(void) {
    if (cg_self.is_go_thread)
        return 1;
    pid_t loader = atomic_load(&loading_tid);
    return loader != 0 && loader == (pid_t)syscall(SYS_gettid);
}

int cg_is_go_part(const char *loader_name) {
    return go_part_path[0] && loader_name && strcmp(loader_name, go_part_path) == 0;
}

static int read_exact(int fd, void *buf, size_t n, off_t at) {
    return pread(fd, buf, n, at) == (ssize_t)n;
}

/* Finds the embedded image in our own file: section headers read with pread, each checked. */
static int find_go_part(int fd, off_t *offset, size_t *size) {
    Elf64_Ehdr eh;
    if (!read_exact(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) ||
        eh.e_shstrndx >= eh.e_shnum)
        return 0;
    Elf64_Shdr names;
    if (!read_exact(fd, &names, sizeof names, (off_t)(eh.e_shoff + eh.e_shstrndx * sizeof names)))
        return 0;
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        Elf64_Shdr sh;
        char name[sizeof GO_PART_SECTION];
        if (!read_exact(fd, &sh, sizeof sh, (off_t)(eh.e_shoff + i * sizeof sh)) ||
            sh.sh_name >= names.sh_size ||
            !read_exact(fd, name, sizeof name, (off_t)(names.sh_offset + sh.sh_name)) ||
            memcmp(name, GO_PART_SECTION, sizeof name) != 0)
            continue;
        if (sh.sh_type != SHT_PROGBITS || sh.sh_size < sizeof(Elf64_Ehdr))
            return 0;
        *offset = (off_t)sh.sh_offset;
        *size = sh.sh_size;
        return 1;
    }
    return 0;
}

static int copy_image(int to, int self, off_t offset, size_t size) {
    while (size > 0) {
        ssize_t n = sendfile(to, self, &offset, size);
        if (n <= 0)
            return 0;
        size -= (size_t)n;
    }
    return 1;
}

static int go_part_memfd(int self, off_t offset, size_t size) {
    int fd = memfd_create("crashguard-go", MFD_CLOEXEC | MFD_EXEC);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create("crashguard-go", MFD_CLOEXEC);
    if (fd >= 0 && !copy_image(fd, self, offset, size)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A copy is used only under the rules of the cache files (docs/cache.md): a regular file,
 * owned by the effective user or root, writable by no one else, of the image's size. */
static int trusted(const struct stat *st, size_t size) {
    return S_ISREG(st->st_mode) && (st->st_uid == geteuid() || st->st_uid == 0) && !(st->st_mode & 022) &&
           (size_t)st->st_size == size;
}

static int trusted_copy(const char *path, size_t size) {
    struct stat st;
    return lstat(path, &st) == 0 && trusted(&st, size);
}

static void make_dirs(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        mkdir(path, 0700);
        *p = '/';
    }
    mkdir(path, 0700);
}

/* Finds or writes the image's copy in a cache directory; returns its path or 0. */
static const char *cached_copy(int self, off_t offset, size_t size) {
    static char path[CG_CACHE_DIR_MAX + 64];
    char dirs[2][CG_CACHE_DIR_MAX], temporary[sizeof path];
    int ndirs = cg_cache_dirs(dirs);
    if (!CG_GO_PART_ID[0])
        return 0;
    for (int d = 0; d < ndirs; d++) {
        if (snprintf(path, sizeof path, "%s/go-part-%s.so", dirs[d], CG_GO_PART_ID) < (int)sizeof path &&
            trusted_copy(path, size))
            return path;
    }
    if (ndirs < 2)
        return 0; /* only the system directory: written by `crashguard warm --system` */
    make_dirs(dirs[0]);
    if (snprintf(path, sizeof path, "%s/go-part-%s.so", dirs[0], CG_GO_PART_ID) >= (int)sizeof path ||
        snprintf(temporary, sizeof temporary, "%s/.go-part-%s.%d.tmp", dirs[0], CG_GO_PART_ID,
                 (int)getpid()) >= (int)sizeof temporary)
        return 0;
    int fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return 0;
    int ok = copy_image(fd, self, offset, size);
    ok = close(fd) == 0 && ok && rename(temporary, path) == 0;
    if (!ok) {
        unlink(temporary);
        return 0;
    }
    return path;
}

static const char *load_failure(const char *what, const char *why) {
    static char failure[160];
    snprintf(failure, sizeof failure, "%s: %s", what, why ? why : "unknown error");
    return failure;
}

static void *open_go_part(const char *path) {
    snprintf(go_part_path, sizeof go_part_path, "%s", path);
    atomic_store(&loading_tid, (pid_t)syscall(SYS_gettid));
    void *handle = cg_real_dlopen(path, RTLD_NOW | RTLD_LOCAL);
    atomic_store(&loading_tid, 0);
    return handle;
}

const char *cg_load_go_part(void) {
    Dl_info self_info;
    if (!dladdr((void *)cg_load_go_part, &self_info) || !self_info.dli_fname)
        return "cannot find libcrashguard.so's own file";
    int self = open(self_info.dli_fname, O_RDONLY | O_CLOEXEC);
    off_t offset;
    size_t size;
    if (self < 0)
        return load_failure("cannot open libcrashguard.so to load its Go part", strerror(errno));
    if (!find_go_part(self, &offset, &size)) {
        close(self);
        return "library built without its Go part (use build.sh)";
    }
    /* The copy is code we are about to run: the file checked is the file loaded, through
     * its descriptor, so no one who can write the directory can swap it in between. */
    const char *copy = cached_copy(self, offset, size);
    int copy_fd = copy ? open(copy, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    struct stat copy_st;
    void *handle = 0;
    if (copy_fd >= 0 && fstat(copy_fd, &copy_st) == 0 && trusted(&copy_st, size)) {
        char fd_path[32];
        snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", copy_fd);
        handle = open_go_part(fd_path);
    }
    if (copy_fd >= 0)
        close(copy_fd);
    if (!handle) {
        /* No usable copy (read-only or noexec cache directory): a private one in memory.
         * dlopen needs a path; /proc/self/fd is the only one a memfd has. */
        int image = go_part_memfd(self, offset, size);
        if (image < 0) {
            int saved = errno;
            close(self);
            return load_failure("cannot copy the Go part into a memfd", strerror(saved));
        }
        char fd_path[32];
        snprintf(fd_path, sizeof fd_path, "/proc/self/fd/%d", image);
        handle = open_go_part(fd_path);
        close(image); /* the mapping keeps the image; the host never sees the descriptor */
    }
    close(self);
    if (!handle)
        return load_failure("cannot load the Go part", dlerror());
    /* The loader's counters moved: without this the watcher would take the next dlopen's
     * hint for our own load, refresh before the host's library is mapped, and miss it. */
    cg_refresh_modules();
    return 0;
}
