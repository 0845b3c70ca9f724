//go:build ignore

/*
 * go_part.c — load the Go part into the helper process (helper_main.c).  Never in a host.
 *
 * The Go part — the c-shared library build.sh makes with `go build -buildmode=c-shared` of
 * export.go, preload/ and dwarfcache/ — travels inside libcrashguard.so as the non-allocated
 * section .crashguard_go, which no loader ever maps.  The helper dlopens it RTLD_LOCAL from a
 * copy of the image in a cache directory, go-part-<content hash>.so: written once per
 * library build (by the first helper, or `crashguard warm --library`), then shared through
 * the page cache by every later helper; loaded through /proc/self/fd, so the file checked is
 * the file loaded.  Where no copy can be written or used, the image is copied into a memfd
 * instead (~3 ms for 3.6 MB).  Its initialization reads the helper's own arguments.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interpose.h"
#include "sigsafe/sys.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: executable memfd under vm.memfd_noexec=1 */
#endif
/* build.sh: a hash of the Go part's image, naming its copy in the cache directory. */
#ifndef CG_GO_PART_ID
#define CG_GO_PART_ID ""
#endif
#define GO_PART_SECTION ".crashguard_go"
#define SYSTEM_CACHE_DIR "/var/cache/crashguard"

static int read_exact(int fd, void *buf, size_t n, off_t at) {
    return cg_sys_pread(fd, buf, n, at) == (long)n;
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
        long n = cg_sys_sendfile(to, self, &offset, size);
        if (n <= 0)
            return 0;
        size -= (size_t)n;
    }
    return 1;
}

static int go_part_memfd(int self, off_t offset, size_t size) {
    int fd = cg_sys_memfd_create("crashguard-go", MFD_CLOEXEC | MFD_EXEC);
    if (fd == -EINVAL)
        fd = cg_sys_memfd_create("crashguard-go", MFD_CLOEXEC);
    if (fd >= 0 && !copy_image(fd, self, offset, size)) {
        cg_sys_close(fd);
        return -ENOSPC;
    }
    return fd;
}

/* A copy is used only under the rules of the cache files (docs/cache.md): a regular file,
 * owned by the effective user or root, writable by no one else, of the image's size. */
static int trusted(const struct stat *st, size_t size) {
    uid_t euid = cg_sys_geteuid();
    return S_ISREG(st->st_mode) && (st->st_uid == euid || st->st_uid == 0) && !(st->st_mode & 022) &&
           (size_t)st->st_size == size;
}

/* Opens a trusted copy at path; -1 if there is none. */
static int open_copy(const char *path, size_t size) {
    int fd = cg_sys_open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
    struct stat st;
    if (fd >= 0 && (cg_sys_fstat(fd, &st) != 0 || !trusted(&st, size))) {
        cg_sys_close(fd);
        fd = -1;
    }
    return fd;
}

/* /proc/self/fd/<fd>: the path dlopen and linkat reach an open descriptor by. */
static void fd_path(char out[32], int fd) {
    char digits[12];
    CG_JOIN(out, 32, "/proc/self/fd/", cg_decimal(digits, (unsigned)fd));
}

/* Writes the copy into dir atomically: an unnamed file, linked into place once complete, so
 * a helper killed half-way leaves nothing behind.  A copy already there was found unfit (a
 * wrong mode, owner or size): it goes first.  Another helper may link its own in between;
 * either is the same image. */
static int write_copy(const char *dir, const char *path, int self, off_t offset, size_t size) {
    int fd = cg_sys_open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    char unnamed[32];
    fd_path(unnamed, fd);
    int ok = copy_image(fd, self, offset, size) && cg_sys_fchmod(fd, 0644) == 0;
    if (ok && cg_sys_linkat(unnamed, path, AT_SYMLINK_FOLLOW) != 0) {
        cg_sys_unlink(path);
        int again = cg_sys_linkat(unnamed, path, AT_SYMLINK_FOLLOW);
        ok = again == 0 || again == -EEXIST;
    }
    cg_sys_close(fd);
    return ok ? open_copy(path, size) : -1;
}

/* The copy's descriptor: an existing one in a --dir or the system directory, else a new one
 * in the first --dir that takes it. */
static int go_part_copy(long argc, char **argv, int self, off_t offset, size_t size) {
    char path[CG_PATH_MAX];
    const char *dirs[8];
    int ndirs = 0;
    for (long i = 1; i < argc && strcmp(argv[i], "--") != 0 && ndirs < 7; i++)
        if (strncmp(argv[i], "--dir=", 6) == 0 && argv[i][6] == '/')
            dirs[ndirs++] = argv[i] + 6;
    dirs[ndirs++] = SYSTEM_CACHE_DIR;
    if (!CG_GO_PART_ID[0])
        return -1;
    for (int d = 0; d < ndirs; d++) {
        int fd = -1;
        if (CG_JOIN(path, sizeof path, dirs[d], "/go-part-", CG_GO_PART_ID, ".so"))
            fd = open_copy(path, size);
        if (fd >= 0)
            return fd;
    }
    for (int d = 0; d < ndirs - 1; d++) {
        int fd = -1;
        if (CG_JOIN(path, sizeof path, dirs[d], "/go-part-", CG_GO_PART_ID, ".so") && cg_make_private_dirs(dirs[d]) == 0)
            fd = write_copy(dirs[d], path, self, offset, size);
        if (fd >= 0)
            return fd;
    }
    return -1;
}

static const char *load_failure(const char *what, const char *why) {
    static char failure[160];
    CG_JOIN(failure, sizeof failure, what, ": ", why ? why : "unknown error");
    return failure;
}

static void *open_by_descriptor(int fd) {
    char path[32];
    fd_path(path, fd);
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

const char *cg_load_go_part(long argc, char **argv) {
    const char *library = 0;
    for (long i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strncmp(argv[i], "--library=", 10) == 0)
            library = argv[i] + 10;
    if (!library)
        return "no --library=PATH: cannot find libcrashguard.so's own file";
    int self = cg_sys_open(library, O_RDONLY | O_CLOEXEC, 0);
    off_t offset;
    size_t size;
    if (self < 0)
        return load_failure("cannot open libcrashguard.so to load its Go part", strerror(-self));
    if (!find_go_part(self, &offset, &size)) {
        cg_sys_close(self);
        return "library built without its Go part (use build.sh)";
    }
    void *handle = 0;
    int copy = go_part_copy(argc, argv, self, offset, size);
    if (copy >= 0) {
        handle = open_by_descriptor(copy);
        cg_sys_close(copy);
    }
    if (!handle) {
        /* No usable copy (read-only or noexec directories): a private one in memory. */
        int image = go_part_memfd(self, offset, size);
        if (image < 0) {
            cg_sys_close(self);
            return load_failure("cannot copy the Go part into a memfd", strerror(-image));
        }
        handle = open_by_descriptor(image);
        cg_sys_close(image);
    }
    cg_sys_close(self);
    return handle ? 0 : load_failure("cannot load the Go part", dlerror());
}
