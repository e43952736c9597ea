#!/usr/bin/env python3
# Fails when two modules of a crate import each other (issue 10: imports run one way).
# Usage: .ci/module-cycles.py CRATE_DIR [SRC]   (test modules are ignored)
import os,re,sys,itertools
root=sys.argv[1]; crate=sys.argv[2] if len(sys.argv)>2 else 'src'
mods={}
for dp,_,fs in os.walk(os.path.join(root,crate)):
    for f in fs:
        if not f.endswith('.rs'): continue
        p=os.path.join(dp,f); rel=os.path.relpath(p,os.path.join(root,crate))
        if rel.startswith('bin/') or rel in('main.rs',): continue
        parts=rel[:-3].split('/')
        if parts[-1] in('mod','lib'): parts=parts[:-1]
        mods['::'.join(parts)]=open(p).read()
def strip_tests(s):
    i=s.find('#[cfg(test)]')
    return s if i<0 else s[:i]
deps={m:set() for m in mods}
for m,s in mods.items():
    s=strip_tests(s)
    base=m.split('::') if m else []
    for ref in re.findall(r'\b((?:crate|super)(?:::\w+)+)',s):
        ps=ref.split('::')
        if ps[0]=='crate': tgt=ps[1:]
        else:
            cur=base[:-1] if not mods.get(m) is None else base
            # file module: super = parent
            cur=base[:-1]
            i=0
            while ps[i]=='super': 
                if i>0: cur=cur[:-1]
                i+=1
            tgt=cur+ps[i:]
        # longest prefix that is a module
        for k in range(len(tgt),0,-1):
            c='::'.join(tgt[:k])
            if c in mods and c!=m:
                # ignore parent modules (mod.rs declaring children) and ancestor refs
                deps[m].add(c); break
top=lambda x:x.split('::')[0]
bad=[]
for a,b in itertools.combinations(mods,2):
    if b in deps[a] and a in deps[b] and not (a.startswith(b+'::') or b.startswith(a+'::')) and a and b:
        bad.append((a,b))
tdeps={}
for a,ds in deps.items():
    for b in ds:
        if a and b and top(a)!=top(b): tdeps.setdefault(top(a),set()).add(top(b))
for a,b in itertools.combinations(sorted(tdeps),2):
    if b in tdeps.get(a,()) and a in tdeps.get(b,()): bad.append(('top:'+a,'top:'+b))
for x in bad: print('mutual:',*x)
print(len(bad),"mutual pairs")
sys.exit(1 if bad else 0)
