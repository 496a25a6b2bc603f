#!/usr/bin/env python3
"""gen_random.py: writes the random differential-test templates of mixlm's chat-template tests,
tests/data/templates/features/random-{expr,ws,stmt}.templates.json (JSON arrays of template
sources, fixed seeds), which render.mjs then renders with the reference into golden.json.

  expr: one expression each, from context.json variables, operators, filters, tests, methods;
  ws:   text and tags mixed with every whitespace-control form ({%- -%} {{- -}} {#- -#},
        trim_blocks/lstrip_blocks corners, {% generation %});
  stmt: statements (for/if/set/macro/call/filter/break/continue, namespaces, loop variables).

Usage: python3 gen_random.py [COUNT]   (default 400 of each)
"""
import json
import os
import random
import sys


def make_expr():
    atoms = ['n','f','whole','neg','big','tiny','huge','s','empty','nul','missing','arr','words','people','obj','uni','html',
     'messages[0]','messages[2].meta','messages[1].content','tools','true','false','none','0','1','-1','2.5','0.5','"str"',"'x y'",
     '[1, "a", none]','{"k": 1, "b": [2]}','(1, 2)','people[0]','obj.a','obj["5"]','words[1:]','arr[::-1]','"  pad  "','""','[]','{}',
     '"A,b,,C"','"ß straße"','"3.5"','"12abc"', '1.0', '-0.0', '100', '"{{x}}"']
    binops = ['+','-','*','/','//','%','**','~','==','!=','<','>','<=','>=','and','or','in','not in']
    filters = ['trim','length','upper','lower','title','capitalize','join','join(", ")','default("d")','default("d", true)','first','last',
     'reverse','sort','sort(reverse=true)','unique','indent','indent(2, true)','items','list','int','float','abs','string','tojson',
     'tojson(indent=2)','tojson(sort_keys=true)','tojson(ensure_ascii=true)','tojson(separators=(",", ":"))','safe','dictsort',
     'selectattr("admin")','rejectattr("admin")','map(attribute="name")','map(attribute="age", default=0)','replace("a", "b")',
     'int(5)','float(1.5)','sort(attribute="age")','bool','keys','values','count','wordcount','round']
    tests = ['defined','undefined','none','string','number','integer','boolean','mapping','iterable','sequence','callable','odd','even',
     'true','false','lower','upper']
    methods = ['upper()','lower()','strip()','lstrip()','rstrip()','title()','capitalize()','startswith("a")','endswith("e")',
     'split()','split(",")','split(" ", 1)','replace("a", "X")','replace("", "-")','get("role")','get("x", 5)','items()','keys()','values()',
     'length','strip("x")','split("a", 0)']
    def expr(d):
        r = random.random()
        if d <= 0 or r < 0.25: return random.choice(atoms)
        if r < 0.45: return '(%s %s %s)' % (expr(d-1), random.choice(binops), expr(d-1))
        if r < 0.6: return '%s | %s' % (expr(d-1), random.choice(filters))
        if r < 0.68: return '(%s is %s%s)' % (expr(d-1), random.choice(['','not ']), random.choice(tests))
        if r < 0.78: return '%s.%s' % (random.choice(atoms), random.choice(methods))
        if r < 0.84: return '(not %s)' % expr(d-1)
        if r < 0.88: return '(-%s)' % expr(d-1)
        if r < 0.93: return '(%s if %s else %s)' % (expr(d-1), expr(d-1), expr(d-1))
        if r < 0.97: return '%s[%s]' % (random.choice(atoms), random.choice(['0','-1','1:','::2','"role"','"k"','2','-2:']))
        return '[%s, %s]' % (expr(d-1), expr(d-1))
    return '{{ %s }}' % expr(3)


def make_ws():
    texts=['  ','\n',' \n  ','a','\t','x\n','  y  ','\u00a0','\u2028','\n\n','\r\n',' - ','}','#','%','-}\n','%}\n','#}\n','{-x','  {-','b ']
    def o(): return random.choice(['{%','{%-'])
    def c(): return random.choice(['%}','-%}'])
    def leaf():
        r=random.random()
        if r<0.45: return random.choice(texts)
        if r<0.6: return random.choice(['{{','{{-'])+random.choice([" 'v' "," s "," n "," nul ","'q'"])+random.choice(['}}','-}}'])
        if r<0.7: return random.choice(['{#','{#-'])+random.choice([' c ','c','\n'])+random.choice(['#}','-#}'])
        if r<0.8: return o()+' set a = 1 '+c()
        if r<0.9: return o()+random.choice([' generation ',' endgeneration ','generation'])+c()
        return random.choice(texts)
    def block(d):
        parts=[]
        for _ in range(random.randint(1,5)):
            r=random.random()
            if d>0 and r<0.2: parts.append(o()+' if '+random.choice(['true','false','n > 3'])+' '+c()+block(d-1)+(o()+' else '+c()+block(d-1) if random.random()<0.4 else '')+o()+' endif '+c())
            elif d>0 and r<0.35: parts.append(o()+' for i in [1, 2] '+c()+block(d-1)+o()+' endfor '+c())
            else: parts.append(leaf())
        return ''.join(parts)
    t = block(2)
    if random.random() < 0.3:
        t += '\n'
    if random.random() < 0.2:
        t = '  ' + t
    return t


def make_stmt():
    vars_=['x','y','m','item','k','v','ns.a','ns.b']
    atoms=['n','s','arr','words','people','obj','messages','messages[0]','loop.index','loop.first','loop.last','loop.length','loop.previtem','x','y','m','item','k','v','ns.a','ns.b','1','2.5','"t"','none','true','[]','{}','(1,2)','tools','m.role','m.content','item.name','k ~ v','varargs','kwargs','caller']
    filters=['length','join(",")','tojson','first','last','upper','trim','default("D")','items','list','sort','string','selectattr("admin")','map(attribute="name")','int','reverse']
    def ex(d=2):
        r=random.random()
        if d<=0 or r<0.4: return random.choice(atoms)
        if r<0.6: return '(%s %s %s)'%(ex(d-1),random.choice(['+','~','==','and','or','in','-','*','!=','>']),ex(d-1))
        if r<0.75: return '%s | %s'%(ex(d-1),random.choice(filters))
        if r<0.85: return '%s is %s'%(ex(d-1),random.choice(['defined','none','string','mapping','iterable','number']))
        if r<0.92: return 'f(%s)'%ex(d-1)
        return 'g(%s, b=%s)'%(ex(d-1),ex(d-1))
    def stmt(d):
        r=random.random()
        if d<=0 or r<0.3: return '{{ %s }}'%ex()
        if r<0.45: return '{%% set %s = %s %%}'%(random.choice(vars_),ex())
        if r<0.6: return '{%% for %s in %s %%}%s{%% endfor %%}'%(random.choice(['x','m','item']),random.choice(['arr','messages','people','words','range(3)','obj','obj.items()','messages[1:]','[1,2,3] if true','arr if x']),body(d-1))
        if r<0.65: return '{%% for k, v in %s %%}%s{%% endfor %%}'%(random.choice(['obj.items()','obj|items','people[0].items()','[[1,2],[3,4]]']),body(d-1))
        if r<0.78: return '{%% if %s %%}%s{%% elif %s %%}%s{%% else %%}%s{%% endif %%}'%(ex(),body(d-1),ex(),body(d-1),body(d-1))
        if r<0.83: return '{%% set x %%}%s{%% endset %%}'%body(d-1)
        if r<0.87: return '{%% filter upper %%}%s{%% endfilter %%}'%body(d-1)
        if r<0.91: return '{%% call g(%s) %%}%s{%% endcall %%}'%(ex(),body(d-1))
        if r<0.95: return random.choice(['{% break %}','{% continue %}'])
        return ' t%d '%random.randint(0,9)
    def body(d): return ''.join(stmt(d) for _ in range(random.randint(1,3)))
    pre = ('{% macro f(a, c="C") %}[{{ a }}|{{ c }}]{% endmacro %}{% macro g(a, b=2) %}<{{ a }}:{{ b }}'
           '{% if caller is defined %}:{{ caller() }}{% endif %}>{% endmacro %}{% set ns = namespace(a=1, b="z") %}')
    return pre + body(3)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.environ.get("MIXLM_TEMPLATE_DATA", os.path.join(here, "../../../tests/data/templates"))
    for seed, (name, fn) in enumerate([("expr", make_expr), ("ws", make_ws), ("stmt", make_stmt)], start=1):
        random.seed(seed)
        items = [fn() for _ in range(n)]
        with open(os.path.join(out, "features", "random-%s.templates.json" % name), "w") as f:
            json.dump(items, f, ensure_ascii=False, indent=0)
            f.write("\n")


if __name__ == "__main__":
    main()
