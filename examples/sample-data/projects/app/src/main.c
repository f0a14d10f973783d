#include <stdio.h>

int main(void)
{
    puts("hello from the sample app");
    return 0;
}
