/* The LSP checks' sample: non-ASCII text before symbols on their lines, so
   that byte, code point and UTF-16 columns differ (é is 2 bytes and 1 UTF-16
   unit, 日 3 bytes and 1 unit, 🙂 4 bytes and 2 units). */
int café = 1;
const char *greeting = "é日本🙂"; int after = 2;
/* 日本🙂 */ int broken = missing;
