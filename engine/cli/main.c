/* main.c - the `symog` command: dispatches to its subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name, *help;
    int (*fn)(int argc, char **argv);
} commands[] = {
    {"train", "train one network (optionally quantized); writes a run directory", cmd_train},
    {"eval", "test error of a checkpoint", cmd_eval},
    {"quantizers", "list the quantizers (built-in and plugins) and their options", cmd_quantizers},
    {"models", "list the architectures with parameter counts and FLOPs", cmd_models},
    {"bench", "training and inference throughput benchmark", cmd_bench},
    {"grid", "run experiment grids (experiments/*.lua): plan, parallel jobs, resume", cmd_grid},
    {"report", "tables (Markdown, LaTeX, CSV) and figures from finished runs", cmd_report},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: symog COMMAND [OPTIONS]   (symog COMMAND --help for its options)\n\n"
               "SYMOG quantization harness: trains networks with low-bit fixed-point weights.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc, argv);
    fprintf(stderr, "symog: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
