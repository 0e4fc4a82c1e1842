/* cli.h - the subcommands of `symog`. Each returns the process exit code:
 * 0 success, 1 failure of the work, 2 bad invocation. */
#ifndef SQ_CLI_H
#define SQ_CLI_H

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantizers(int argc, char **argv);

/* --data-dir default: $SYMOG_DATA, else "data". */
const char *cli_data_dir(void);

#endif
