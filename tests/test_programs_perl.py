"""perl under HMM (Debian's perl uses the system malloc: usemymalloc='n')."""
import subprocess

SCRIPT = r'''
use strict; use warnings;
my %count; my %index; my @words;
for my $i (1 .. 60000) {
    my $w = join '', map { chr(97 + (($i >> $_) * 31 + $_ * $i) % 26) } 1 .. (3 + $i % 9);
    push @words, $w;
    $count{$w}++;
    push @{ $index{substr($w, 0, 2)} }, $i;
}
printf "words %d distinct %d prefixes %d\n", scalar @words, scalar keys %count, scalar keys %index;
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 9];
print "top @top\n";
my @sorted = sort @words;
print "first $sorted[0] last $sorted[-1]\n";
my @bylen = sort { length($a) <=> length($b) or $b cmp $a } @words[0 .. 9999];
print "shortest $bylen[0] longest $bylen[-1]\n";

my $text = '';
$text .= "line $_: " . ($words[$_] x ($_ % 5)) . "\n" for 0 .. 19999;
printf "text %d\n", length $text;
my $vowels = () = $text =~ /[aeiou]/g;
my @pairs = $text =~ /line (\d+): (\w{6,8})\b/g;
(my $copy = $text) =~ s/(\d+)/<$1>/g;
$copy =~ tr/a-z/A-Z/;
printf "vowels %d pairs %d copy %d %s\n", $vowels, scalar @pairs, length $copy, substr($copy, 0, 40) =~ tr/\n/|/r;
my %rev = reverse %count;
my @split = split /[aeiou]+/, $text;
printf "rev %d split %d\n", scalar keys %rev, scalar @split;
my $joined = join ',', map { sprintf '%s=%d', $_, $count{$_} } sort keys %count;
printf "joined %d %s\n", length $joined, substr($joined, -40);
my @nested = map { { id => $_, tags => [ map { "t$_" } 1 .. $_ % 10 ] } } 1 .. 30000;
my $tags = 0; $tags += @{ $_->{tags} } for @nested;
print "tags $tags\n";
undef @nested; undef %index;
my $s = ''; for (1 .. 100000) { $s .= chr(65 + $_ % 26); substr($s, 0, 1, '') if length $s > 5000 }
print "sliding ", length $s, " ", substr($s, 0, 10), "\n";
'''


def test_perl_same_as_glibc(tmp_path, run_both, same, served, support):
    perl = support.require_program("perl")
    script = tmp_path / "work.pl"
    script.write_text(SCRIPT)
    env = support.base_env(LC_ALL="C", PERL_HASH_SEED="0", PERL_PERTURB_KEYS="0")
    both = run_both([perl, str(script)], text=True, env=env, stdin=subprocess.DEVNULL)
    same(both)
    assert both.glibc.returncode == 0, both.glibc.stderr
    assert both.hmm.stderr == "", both.hmm.stderr
    assert both.hmm.stdout.startswith("words 60000 ")
    assert len(both.hmm.stdout.splitlines()) == 10
    stats = served(both.hmm, min_allocs=10_000)
    assert stats["peak_bytes_in_use"] > 1_000_000, stats
