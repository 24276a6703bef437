/* main.c — placeholder dispatcher, to be written. */
#include <stdio.h>
int main(void) { fprintf(stderr, "dfit: not built yet\n"); return 1; }
