// New static and global data used by a changed function are carried (zeroed or
// initialised); existing data is referenced in the image.
//#ExpectOutcome: payload
//#ExpectChanged: account
//#ExpectNew: audit_total audit_log
//#ExpectCarried: account audit_total audit_log
//#ExpectUndefined: new_data.c#hits
static int hits;
//+int audit_total;
//+static const char *audit_log[4] = { "a", "b", "c", "d" };
__attribute__((noinline)) const char *account(int v)
{
  hits += v;
//- return 0;
//+ audit_total += v;
//+ return audit_log[v & 3];
}
