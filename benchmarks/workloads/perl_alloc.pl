# An allocation-heavy Perl program, for the benchmark.
#
#     perl perl_alloc.pl SCALE
#
# Builds hashes of arrays, matches and rewrites strings with regular
# expressions, joins and splits, and prints a digest of the results.
use strict;
use warnings;

my $scale = shift @ARGV or die "usage: perl_alloc.pl SCALE\n";
my $state = 12345;
sub next_rand { $state = ($state * 1103515245 + 12345) % 2147483648; return $state; }

my $digest = 0;
for my $round (1 .. $scale) {
    my %index;
    my @lines;
    for my $i (1 .. 4000) {
        my $r = next_rand();
        my $line = sprintf("user%05d\@host%03d.example key=%d path=/srv/%x/%d/data",
                           $r % 50000, $r % 700, $r % 9973, $r % 4096, $i);
        push @lines, $line;
    }
    for my $line (@lines) {
        if ($line =~ /^(\w+)\@(host\d+)\.example key=(\d+) path=(\S+)/) {
            my ($user, $host, $key, $path) = ($1, $2, $3, $4);
            push @{ $index{$host} }, "$user:$key";
            (my $rewritten = $path) =~ s{/(\w+)}{"/" . uc($1)}ge;
            $index{paths}{$rewritten}++;
        }
    }
    my $text = join("\n", map { "$_=" . join(",", sort @{ $index{$_} }) }
                           sort grep { $_ ne 'paths' } keys %index);
    my @fields = split /[=,\n]/, $text;
    my %seen;
    $seen{$_}++ for @fields;
    $digest = ($digest * 31 + length($text) + scalar(keys %seen)
               + scalar(keys %{ $index{paths} })) % 4294967291;
}
print "perl: digest $digest rounds $scale\n";
