// Function-scope statics get new numeric suffixes when another static is added;
// they are paired through the functions that use them, and an unchanged one is
// referenced in the image as file#name.
//#ExpectOutcome: payload
//#ExpectChanged: bump
//#ExpectSame: tick
//#ExpectNew: twice
//#ExpectPatched: bump
//#ExpectUndefined: static_local_renamed.c#count.*
__attribute__((noinline)) int tick(void) { static int count; return ++count; }
//+__attribute__((noinline)) int twice(void) { static int count; return count += 2; }
__attribute__((noinline)) int bump(int x)
{
  static int count;
  count += x;
//- return count;
//+ return count * 2;
}
