" The vim workload, run as: vim -u NONE -i NONE -N -n -es -S vim_edits.vim FILE
" Ex-mode edits over a large file: substitutions, global commands, a sort,
" line joins and undo, then the result is written to out.txt.
set nomore
%s/\<\(\w\+\)-\(\d\+\)\>/\2:\1/g
g/^#/d
g/alpha/s/$/ [alpha]/
%s/\s\+$//e
sort u
g/^\d*[13579]:/normal! A;
1,$-1g/beta$/join
undo
redo
%s/\(\w\+\) \(\w\+\)/\2 \1/
w! out.txt
qa!
