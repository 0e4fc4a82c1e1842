/* cli.h - the subcommands of `symog`. Each returns the process exit code:
 * 0 success, 1 failure of the work, 2 bad invocation. */
#ifndef SQ_CLI_H
#define SQ_CLI_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantizers(int argc, char **argv);
int cmd_grid(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* cmd_grid.c: shared by `symog grid` and `symog report`. Parse argv[2..]
 * by the opt table, options (with their values) in any order among the
 * file arguments, which go to files. Returns opts_parse's 0 / 1 (help shown)
 * / 2 (error reported). */
int cli_parse_with_files(const void *opt_table, int n, int argc, char **argv, const char *usage,
                         char **files, int *nfiles, int max_files);
struct sq_gexp;
struct sq_ggrid;
/* Load and expand experiment files; messages to stderr prefixed with who. */
int cli_load_grids(char **files, int nfiles, int profile, const char *runs_root,
                   struct sq_gexp **x, struct sq_ggrid **g, int *ng, const char *who);
void cli_free_grids(struct sq_gexp **x, int nx, struct sq_ggrid **g, int ng);

/* --data-dir default: $SYMOG_DATA, else "data". */
const char *cli_data_dir(void);

#endif
