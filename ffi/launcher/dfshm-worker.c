/* dfshm-worker as a launcher of a few kilobytes: it loads libdfshm_ffi (the ADBC driver, which
 * holds all of dfshm and DataFusion) and runs the worker inside it (DfshmWorkerMain), so that a
 * package ships DataFusion once. Install it as `dfshm-worker` next to libdfshm_ffi.so, where the
 * driver looks for its workers.
 *
 *   cc -O2 -o dfshm-worker ffi/launcher/dfshm-worker.c -ldl
 *
 * The library is DFSHM_FFI_LIBRARY if set, else libdfshm_ffi.so in this program's folder. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  char path[PATH_MAX];
  const char *library = getenv("DFSHM_FFI_LIBRARY");
  if (library == NULL || *library == '\0') {
    ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    if (length <= 0) {
      perror("dfshm-worker: cannot find its own file");
      return 2;
    }
    path[length] = '\0';
    char *slash = strrchr(path, '/');
    const char *name = "libdfshm_ffi.so";
    if (slash == NULL || (size_t)(slash + 1 - path) + strlen(name) >= sizeof path) {
      fprintf(stderr, "dfshm-worker: cannot place %s beside %s\n", name, path);
      return 2;
    }
    strcpy(slash + 1, name);
    library = path;
  }
  void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (handle == NULL) {
    fprintf(stderr,
            "dfshm-worker: cannot load %s: %s\n(install it beside this program, or set "
            "DFSHM_FFI_LIBRARY to libdfshm_ffi.so's path)\n",
            library, dlerror());
    return 2;
  }
  int (*worker_main)(void) = (int (*)(void))dlsym(handle, "DfshmWorkerMain");
  if (worker_main == NULL) {
    fprintf(stderr, "dfshm-worker: %s has no DfshmWorkerMain: %s\n", library, dlerror());
    return 2;
  }
  return worker_main();
}
