/* test_types — placeholder: skipped until written. */
int main(void) { return 77; }
