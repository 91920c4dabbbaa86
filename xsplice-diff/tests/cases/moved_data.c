// A global variable moves from one file to another: new code keeps using the one
// copy of the state the running image has.
//#ExpectOutcome: payload
//#ExpectPatched: use_total
//#ExpectNotCarried: total
//#ExpectUndefined: total
//#File: a.c
//-int total = 7;
extern int total;
__attribute__((noinline)) int use_total(int v)
{
//- return total + v;
//+ return total * 3 + v;
}
//#File: b.c
//+int total = 7;
int b_fn(int v) { return v + 99; }
