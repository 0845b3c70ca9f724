/* globcheck.c — prints 1 or 0 per PATTERN PATH pair on stdin (one pair per line, separated
 * by a tab), as the constructor's matcher (globmatch.c) decides; for a line without a tab,
 * whether the pattern is valid (cg_glob_valid). */
#include <stdio.h>
#include <string.h>

int cg_glob_match(const char *pattern, const char *path);
int cg_glob_valid(const char *pattern);

int main(void) {
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) {
            printf("%d\n", cg_glob_valid(line));
            continue;
        }
        *tab = 0;
        printf("%d\n", cg_glob_match(line, tab + 1));
    }
    return 0;
}
