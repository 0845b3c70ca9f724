/* cgroup_rules.c — the unit and container rules of sigsafe/context.c, run on paths given
 * as arguments (tests/reports_test.go): one line per path, "unit|user unit|runtime|id". */
#include <stdio.h>

#include "../../sigsafe/context.c"
#include "../../sigsafe/out.c"

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char unit[256], user_unit[256], id[65];
        cg_units_from_cgroup(argv[i], unit, sizeof unit, user_unit, sizeof user_unit);
        const char *runtime = cg_container_from_cgroup(argv[i], id);
        printf("%s|%s|%s|%s\n", unit, user_unit, runtime ? runtime : "", id);
    }
    return 0;
}
