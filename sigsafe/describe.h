#ifndef CG_DESCRIBE_H
#define CG_DESCRIBE_H
const char *signal_name(int sig);
const char *signal_words(int sig);
const char *code_words(int sig, int code);
int code_has_address(int sig, int code);
#endif
