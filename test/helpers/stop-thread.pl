# stop-thread.pl TID: stops one thread of another process, and only that thread, until stdin closes.
# A real fault for tests: the thread stops making progress (as one stuck in uninterruptible I/O would)
# while the rest of its process runs on. ptrace(2) stops a single thread (PTRACE_SEIZE + PTRACE_INTERRUPT);
# when this script exits, the kernel detaches and the thread resumes.
#
# The thread is only left stopped while it waits in its event loop (epoll_wait), never inside other work,
# so it holds no lock another thread could wait for (a message port's queue, a malloc arena). Prints
# "stopped <tid>" once it is. Linux x86_64 only (the syscall numbers); needs permission to ptrace the process.
use strict;
use warnings;

my $tid = $ARGV[0] + 0;
my ($SYS_ptrace, $PTRACE_CONT, $PTRACE_SEIZE, $PTRACE_INTERRUPT, $WALL) = (101, 7, 0x4206, 0x4207, 0x40000000);
my %event_loop_wait = map { $_ => 1 } (232, 281, 441); # epoll_wait, epoll_pwait, epoll_pwait2
$| = 1;

syscall($SYS_ptrace, $PTRACE_SEIZE, $tid, 0, 0) == 0 or die "ptrace(PTRACE_SEIZE, $tid): $!\n";
for my $attempt (1 .. 1000) {
  syscall($SYS_ptrace, $PTRACE_INTERRUPT, $tid, 0, 0) == 0 or die "ptrace(PTRACE_INTERRUPT, $tid): $!\n";
  waitpid($tid, $WALL) == $tid or die "waitpid($tid): $!\n";
  open(my $fh, '<', "/proc/$tid/syscall") or die "/proc/$tid/syscall: $!\n";
  my ($nr) = split ' ', (scalar <$fh> // '');
  close($fh);
  if (defined $nr && $event_loop_wait{$nr}) {
    print "stopped $tid\n";
    hold();
    exit 0;
  }
  syscall($SYS_ptrace, $PTRACE_CONT, $tid, 0, 0) == 0 or die "ptrace(PTRACE_CONT, $tid): $!\n";
  select(undef, undef, undef, 0.002);
}
die "thread $tid was never found waiting in its event loop\n";

# hold keeps the thread stopped until stdin closes. It also reaps the thread if its process dies meanwhile
# (a killed process's traced thread stays a zombie, and so does the process, until its tracer waits for it),
# and gives up after $MAX_HOLD_S, so a test that forgets to resume cannot freeze anything for long.
sub hold {
  my $MAX_HOLD_S = 120;
  my $WNOHANG = 1;
  my $deadline = time + $MAX_HOLD_S;
  my $rin = '';
  vec($rin, fileno(STDIN), 1) = 1;
  while (time < $deadline) {
    my $n = select(my $rout = $rin, undef, undef, 0.1);
    if ($n > 0) {
      my $got = sysread(STDIN, my $buf, 4096);
      return if !$got;
    }
    return if waitpid($tid, $WALL | $WNOHANG) == $tid && !-e "/proc/$tid";
  }
}
