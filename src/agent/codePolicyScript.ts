/**
 * The code policy's classifier, in Python: it runs in the kernel (silently,
 * src/agent/codePolicy.ts), so it parses a step with the kernel's own `ast`
 * after IPython's own transforms (`!cmd`, `%pip`, `%%bash`), and resolves
 * paths against the kernel's working folder. `classify(code, cwd)` returns a
 * list of `{category, reason, line}`; ordinary analysis (pandas, matplotlib,
 * scipy, reading and writing files in the working folder) returns none.
 *
 * It reads what the code says, not what it does at run time: a name computed
 * at run time is only seen as "dynamic" where it reaches `__import__`,
 * `getattr` on a module, `eval` or `exec`. A guard, not a sandbox.
 */
export const CODE_POLICY_PY = String.raw`
import ast as _ast, os as _os, re as _re

_NETWORK_MODULES = ('socket', 'urllib.request', 'urllib3', 'http.client', 'requests', 'httpx', 'aiohttp', 'ftplib',
    'smtplib', 'telnetlib', 'poplib', 'imaplib', 'nntplib', 'xmlrpc.client', 'paramiko', 'websocket', 'websockets',
    'pycurl', 'webbrowser', 'asyncio.open_connection', 'ssl.create_connection', 'smbclient', 'boto3', 'botocore',
    'google.cloud', 'azure', 'kaggle', 'gdown', 'wget', 'torch.hub', 'huggingface_hub', 'datasets.load_dataset',
    'tensorflow.keras.utils.get_file', 'keras.utils.get_file', 'nltk.download', 'seaborn.load_dataset',
    'sklearn.datasets.fetch_', 'yfinance', 'pandas_datareader')
_URL = _re.compile(r'^(https?|ftps?|sftp|ssh|s3|s3a|gs|gcs|az|abfss?|hdfs|wss?|smb|git)://', _re.I)
_SHELL_OS = _re.compile(r'^os\.(system|popen|exec\w*|spawn\w*|posix_spawn\w*|fork|forkpty|startfile)$')
_SHELL_MODULES = ('subprocess', 'pty', 'commands', 'pexpect', 'sh', 'plumbum', 'asyncio.create_subprocess_exec',
    'asyncio.create_subprocess_shell', 'multiprocessing.popen')
_INSTALLERS = ('pip', 'pip3', 'conda', 'mamba', 'micromamba', 'uv')
_SHELL_MAGICS = ('sx', 'system', 'sc', 'bash', 'sh', 'script', 'perl', 'ruby', 'python', 'python2', 'python3',
    'pypy', 'writefile', 'file', 'run', 'load', 'env', 'set_env', 'cd', 'store', 'bookmark', 'alias')
_CREDENTIAL_PATH = _re.compile(
    r'(^|[\\/~])\.(ssh|aws|gnupg|netrc|pgpass|git-credentials|pypirc|npmrc|docker|kube|azure|boto|s3cfg|gcloud|password-store)'
    r'(?![\w.-])|\bid_(rsa|dsa|ecdsa|ed25519)\b|/etc/(shadow|gshadow|sudoers)|/proc/(self|\d+)/environ'
    r'|\.config/(gcloud|gh|hub)\b|\.local/share/keyrings|Library/Keychains|\.jupyter/.*token|runtime/jpserver', _re.I)
_CREDENTIAL_MODULES = ('keyring', 'secretstorage', 'browser_cookie3', 'win32cred', 'getpass.getpass', 'gnupg',
    'os.environ', 'os.environb', 'os.getenv', 'os.getenvb', 'os.putenv', 'os.unsetenv', 'posix.environ')
_DYNAMIC = ('importlib.import_module', 'importlib.__import__', 'importlib.util', 'imp.load_source', 'ctypes', 'cffi',
    'marshal.loads', 'types.CodeType', 'types.FunctionType', 'runpy', 'code.interact', 'builtins', 'sys.modules',
    'pickle.loads', 'dill.loads', 'cloudpickle.loads')
_DUNDERS = ('__builtins__', '__globals__', '__code__', '__subclasses__', '__bases__', '__mro__', '__loader__',
    '__import__', '__getattribute__', '__dict__', '__closure__', '__reduce__', '__reduce_ex__')
_OPEN_WRITE = _re.compile(r'[wax+]')
_WRITE_METHODS = ('to_csv', 'to_excel', 'to_parquet', 'to_json', 'to_pickle', 'to_hdf', 'to_feather', 'to_html',
    'to_latex', 'to_stata', 'to_orc', 'to_xml', 'to_markdown', 'savefig', 'write_text', 'write_bytes', 'touch',
    'mkdir', 'write_image', 'write_html', 'to_file', 'save')
_WRITE_FUNCTIONS = ('numpy.save', 'numpy.savez', 'numpy.savez_compressed', 'numpy.savetxt', 'joblib.dump',
    'os.makedirs', 'os.mkdir', 'shutil.copy', 'shutil.copy2', 'shutil.copyfile', 'shutil.copytree', 'os.chmod',
    'os.chown', 'os.symlink', 'os.link', 'os.truncate', 'os.mkfifo', 'shutil.chown', 'os.utime')
_DELETE_FUNCTIONS = ('os.remove', 'os.unlink', 'os.rmdir', 'os.removedirs', 'shutil.rmtree', 'shutil.move',
    'os.rename', 'os.replace', 'os.renames')
_DELETE_METHODS = ('unlink', 'rmdir', 'rename', 'replace', 'symlink_to', 'hardlink_to', 'chmod')


_BUILTINS = ('__import__', 'eval', 'exec', 'compile', 'open', 'getattr', 'globals', 'vars', 'locals', 'breakpoint')
# Modules an earlier step may have imported, when the kernel's names are not at hand.
_COMMON_MODULES = ('os', 'sys', 'subprocess', 'socket', 'shutil', 'urllib', 'requests', 'httpx', 'pathlib', 'importlib',
    'ctypes', 'builtins', 'pickle', 'base64', 'io', 'codecs', 'glob', 'keyring', 'webbrowser', 'ftplib', 'smtplib', 'http', 'pty')


# What a value in the kernel's namespace stands for: a module's name, a function's module.name ('posix' is 'os').
def _kernel_name(value):
    module = getattr(value, '__name__', None) if type(value).__name__ == 'module' else None
    if module is None and callable(value) and isinstance(getattr(value, '__module__', None), str) and isinstance(getattr(value, '__name__', None), str):
        module = value.__module__ + '.' + value.__name__
    if not isinstance(module, str):
        return None
    return _re.sub(r'^(posix|nt)(?=\.|$)', 'os', module)


def _starts(name, prefixes):
    return any(name == p or name.startswith(p + '.') or (p.endswith('_') and name.startswith(p)) for p in prefixes)


class _Classifier(_ast.NodeVisitor):
    def __init__(self, cwd, names):
        self.names = names or {}
        self.cwd = _os.path.realpath(cwd)
        self.home = _os.path.expanduser('~')
        self.aliases = {}
        self.strings = {}
        self.found = []
        self.depth = 0

    def add(self, category, reason, node):
        entry = {'category': category, 'reason': reason, 'line': getattr(node, 'lineno', None)}
        if not any(f['category'] == category and f['reason'] == reason for f in self.found):
            self.found.append(entry)

    # What a name or attribute chain stands for: 'os.system' for os.system, sp.run after import subprocess as sp.
    def qualified(self, node):
        if isinstance(node, _ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            if node.id in self.names:
                return _kernel_name(self.names[node.id])
            if node.id in _BUILTINS or node.id in _COMMON_MODULES:
                return node.id
            return None
        if isinstance(node, _ast.Attribute):
            base = self.qualified(node.value)
            return base + '.' + node.attr if base else None
        if isinstance(node, _ast.Call):
            func = self.qualified(node.func)
            if func in ('__import__', 'importlib.import_module') and node.args:
                module = self.literal(node.args[0])
                return module if module else None
            if func == 'getattr' and len(node.args) >= 2:
                base, attr = self.qualified(node.args[0]), self.literal(node.args[1])
                return base + '.' + attr if base and attr else None
            if func in ('pathlib.Path', 'pathlib.PurePath', 'pathlib.PosixPath'):
                return 'pathlib.Path()'
        if isinstance(node, _ast.Subscript) and self.qualified(node.value) in ('sys.modules',):
            module = self.literal(node.slice)
            return module if module else None
        return None

    def literal(self, node):
        if isinstance(node, _ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, _ast.Name) and node.id in self.strings:
            return self.strings[node.id]
        if isinstance(node, _ast.BinOp) and isinstance(node.op, _ast.Add):
            a, b = self.literal(node.left), self.literal(node.right)
            return a + b if a is not None and b is not None else None
        if isinstance(node, _ast.JoinedStr) and all(isinstance(v, _ast.Constant) for v in node.values):
            return ''.join(str(v.value) for v in node.values)
        return None

    # A path the code names, as far as it can be read without running it; None when it cannot.
    def path(self, node):
        text = self.literal(node)
        if text is not None:
            return text
        if isinstance(node, _ast.JoinedStr) and node.values and isinstance(node.values[0], _ast.Constant):
            prefix = str(node.values[0].value)
            return prefix + 'x' if prefix.startswith(('/', '~', '..')) or '/..' in prefix else None
        if isinstance(node, _ast.Call):
            func = self.qualified(node.func)
            if func in ('os.path.join', 'posixpath.join') and node.args:
                parts = [self.path(a) for a in node.args]
                return _os.path.join(*parts) if all(p is not None for p in parts) else None
            if func in ('os.path.expanduser', 'pathlib.Path()', 'os.path.abspath', 'os.path.realpath', 'str') and node.args:
                return self.path(node.args[0])
            if func in ('pathlib.Path.home', 'os.path.expanduser') or (isinstance(node.func, _ast.Attribute) and node.func.attr == 'home'):
                return '~'
            if isinstance(node.func, _ast.Attribute) and node.func.attr in ('expanduser', 'resolve', 'absolute'):
                return self.path(node.func.value)
            if isinstance(node.func, _ast.Name) and node.func.id in ('Path', 'PurePath', 'PosixPath') and node.args:
                return self.path(node.args[0])
            if isinstance(node.func, _ast.Name) and node.func.id in ('Path', 'PurePath', 'PosixPath') and not node.args:
                return '.'
        if isinstance(node, _ast.BinOp) and isinstance(node.op, _ast.Div):
            a, b = self.path(node.left), self.path(node.right)
            return _os.path.join(a, b) if a is not None and b is not None else None
        if isinstance(node, _ast.Attribute) and node.attr in ('parent',):
            inner = self.path(node.value)
            return inner + '/..' if inner is not None else None
        return None

    # The literal start of a string built at run time ('http://host/?q=' + secret, f'http://host/{x}').
    def prefix(self, node):
        if isinstance(node, _ast.BinOp) and isinstance(node.op, _ast.Add):
            return self.literal(node.left) or self.prefix(node.left)
        if isinstance(node, _ast.JoinedStr) and node.values and isinstance(node.values[0], _ast.Constant):
            return str(node.values[0].value)
        return None

    def outside(self, text):
        full = _os.path.realpath(_os.path.join(self.cwd, _os.path.expanduser(text)))
        return full != self.cwd and not full.startswith(self.cwd.rstrip(_os.sep) + _os.sep)

    def is_cwd(self, text):
        return _os.path.realpath(_os.path.join(self.cwd, _os.path.expanduser(text))) == self.cwd

    def check_write(self, node, target, verb):
        text = self.path(target) if target is not None else None
        if text is not None and self.outside(text):
            self.add('write_outside', verb + ' ' + repr(text) + ', outside the working folder', node)

    def check_delete(self, node, target, verb):
        text = self.path(target) if target is not None else None
        if text is None:
            self.add('write_outside', verb + ' a path computed at run time, which may be outside the working folder', node)
        elif self.outside(text):
            self.add('write_outside', verb + ' ' + repr(text) + ', outside the working folder', node)
        elif self.is_cwd(text):
            self.add('write_outside', verb + ' the working folder itself', node)

    def visit_Import(self, node):
        for a in node.names:
            if a.asname:
                self.aliases[a.asname] = a.name
            else:
                top = a.name.split('.')[0]
                self.aliases[top] = top
            if _starts(a.name, _DYNAMIC) and a.name.split('.')[0] in ('ctypes', 'cffi'):
                self.add('dynamic', 'loads native code (' + a.name + ')', node)
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ''
        for a in node.names:
            full = module + '.' + a.name if module else a.name
            self.aliases[a.asname or a.name] = full
            if _starts(full, _CREDENTIAL_MODULES) and full.startswith('os.'):
                self.add('credentials', 'reads the environment (' + full + '), where credentials live', node)
        if module.split('.')[0] in ('ctypes', 'cffi'):
            self.add('dynamic', 'loads native code (' + module + ')', node)
        self.generic_visit(node)

    def visit_Assign(self, node):
        value = self.literal(node.value)
        for t in node.targets:
            if isinstance(t, _ast.Name):
                if value is not None:
                    self.strings[t.id] = value
                else:
                    self.strings.pop(t.id, None)
                # o = __import__('os'), run = os.system, sub = getattr(os, 'system'): the name stands for what it was given.
                dynamic = isinstance(node.value, _ast.Call) and self.qualified(node.value.func) in ('__import__', 'importlib.import_module', 'getattr')
                alias = self.qualified(node.value) if dynamic or isinstance(node.value, (_ast.Name, _ast.Attribute, _ast.Subscript)) else None
                if alias:
                    self.aliases[t.id] = alias
                else:
                    self.aliases.pop(t.id, None)
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and _CREDENTIAL_PATH.search(node.value):
            self.add('credentials', 'names a credentials file (' + repr(node.value[:80]) + ')', node)
        if isinstance(node.value, str) and node.value in _DUNDERS:
            self.add('dynamic', 'reaches into interpreter internals (' + node.value + ')', node)

    def visit_Attribute(self, node):
        if node.attr in _DUNDERS:
            self.add('dynamic', 'reaches into interpreter internals (' + node.attr + ')', node)
        name = self.qualified(node)
        if name and _starts(name, ('os.environ', 'os.environb', 'posix.environ')):
            self.add('credentials', 'reads the environment (' + name + '), where credentials live', node)
            return
        self.generic_visit(node)

    def visit_Name(self, node):
        name = self.aliases.get(node.id)
        if name and _starts(name, ('os.environ', 'os.environb', 'os.getenv')) and isinstance(node.ctx, _ast.Load):
            self.add('credentials', 'reads the environment (' + name + '), where credentials live', node)
        if node.id in ('__builtins__',):
            self.add('dynamic', 'reaches into interpreter internals (__builtins__)', node)

    def visit_Call(self, node):
        func = self.qualified(node.func)
        args = list(node.args) + [k.value for k in node.keywords]
        self.depth += 1
        try:
            self.classify_call(node, func, args)
        finally:
            self.depth -= 1
        self.generic_visit(node)

    # Code run from a string: a literal is read like the step itself, anything else cannot be.
    def nested(self, node, source_node, via):
        source = source_node if isinstance(source_node, str) else (self.literal(source_node) if source_node is not None else None)
        if source is None:
            self.add('dynamic', 'runs code built at run time (' + via + ')', node)
            return
        if self.depth > 4:
            return
        try:
            inner = _ast.parse(_transform(source))
        except SyntaxError:
            return
        self.visit(inner)

    def ipython_magic(self, node, func, args):
        # IPython's transforms turn !cmd into get_ipython().system(...) and %name into run_line_magic('name', ...).
        if not isinstance(node.func, _ast.Attribute) or not (self.qualified(node.func.value) == 'get_ipython' or
                (isinstance(node.func.value, _ast.Call) and isinstance(node.func.value.func, _ast.Name) and node.func.value.func.id == 'get_ipython')):
            return False
        method = node.func.attr
        if method in ('system', 'getoutput', 'run_cell_magic', 'run_line_magic') or method.startswith('run_'):
            magic = self.literal(node.args[0]) if node.args else None
            rest = ' '.join(filter(None, (self.literal(a) for a in node.args[1:])))
            if method in ('system', 'getoutput'):
                command = magic or ''
                words = command.split()
                if words and words[0] in _INSTALLERS or _re.search(r'-m\s+pip\b', command):
                    self.add('install', 'installs packages (' + command[:80] + ')', node)
                self.add('subprocess', 'runs a shell command (!' + command[:80] + ')', node)
            elif magic in _INSTALLERS:
                if rest.split()[:1] and rest.split()[0] in ('install', 'uninstall', 'download', 'remove', 'update', 'upgrade', 'create', 'sync', 'add'):
                    self.add('install', 'installs packages (%' + magic + ' ' + rest[:80] + ')', node)
            elif method in ('run_cell', 'ex', 'ev', 'run_code', 'run_source'):
                self.nested(node, magic, method)
            elif magic in ('time', 'timeit', 'capture', 'prun', 'debug', 'px', 'autopx'):
                self.nested(node, node.args[-1] if len(node.args) > 1 else None, magic)
            elif magic in _SHELL_MAGICS:
                self.add('subprocess', 'runs the magic %' + magic + ' (' + rest.split('\n')[0][:60] + ')', node)
                if magic in ('writefile', 'file'):
                    self.check_write(node, _ast.Constant(rest.split()[-1] if rest.split() else ''), 'writes')
            return True
        return False

    def classify_call(self, node, func, args):
        if self.ipython_magic(node, func, args):
            return
        if func is None:
            if isinstance(node.func, _ast.Attribute):
                self.method_call(node, node.func.attr, args)
            return
        if func in ('eval', 'exec', 'compile'):
            self.nested(node, node.args[0] if node.args else None, func)
            return
        if func in ('__import__', 'importlib.import_module') and (not node.args or self.literal(node.args[0]) is None):
            self.add('dynamic', 'imports a module whose name is computed at run time', node)
            return
        if func == '__import__':
            self.add('dynamic', 'imports ' + self.literal(node.args[0]) + ' through __import__', node)
        if func == 'getattr' and len(node.args) >= 2 and self.literal(node.args[1]) is None and self.qualified(node.args[0]) and self.qualified(node.args[0]) not in ('getattr',):
            self.add('dynamic', 'looks up an attribute of ' + self.qualified(node.args[0]) + ' by a name computed at run time', node)
            return
        if _starts(func, _DYNAMIC):
            self.add('dynamic', 'runs or loads code the policy cannot read (' + func + ')', node)
            return
        if _SHELL_OS.match(func) or _starts(func, _SHELL_MODULES):
            command = ' '.join(filter(None, (self.literal(a) for a in node.args))) or ' '.join(
                filter(None, (self.literal(e) for a in node.args if isinstance(a, (_ast.List, _ast.Tuple)) for e in a.elts)))
            words = command.split()
            if (words and _os.path.basename(words[0]) in _INSTALLERS) or _re.search(r'-m\s+pip\b|\bpip3? install\b', command) or \
                    any(isinstance(a, (_ast.List, _ast.Tuple)) and len(a.elts) > 2 and self.literal(a.elts[1]) == '-m' and self.literal(a.elts[2]) == 'pip' for a in node.args):
                self.add('install', 'installs packages (' + (command[:80] or func) + ')', node)
            self.add('subprocess', 'starts a process (' + func + (': ' + command[:80] if command else '') + ')', node)
            return
        if _starts(func, ('pip', 'pip._internal', 'setuptools', 'ensurepip')):
            self.add('install', 'installs packages (' + func + ')', node)
            return
        if _starts(func, _CREDENTIAL_MODULES):
            self.add('credentials', ('reads the environment (' + func + '), where credentials live') if func.startswith(('os.', 'posix.')) else ('reads stored credentials (' + func + ')'), node)
            return
        if _starts(func, _NETWORK_MODULES):
            self.add('network', self.network_reason(node, func), node)
            return
        if func in ('open', 'io.open', 'codecs.open', 'builtins.open', 'os.open'):
            mode = self.literal(node.args[1]) if len(node.args) > 1 else next((self.literal(k.value) for k in node.keywords if k.arg == 'mode'), None)
            writes = func == 'os.open' or (mode is not None and _OPEN_WRITE.search(mode)) or (mode is None and (len(node.args) > 1 or any(k.arg == 'mode' for k in node.keywords)))
            if writes and node.args:
                self.check_write(node, node.args[0], 'opens for writing')
            return
        if func in _DELETE_FUNCTIONS:
            for a in node.args[:2] if func in ('shutil.move', 'os.rename', 'os.replace', 'os.renames') else node.args[:1]:
                self.check_delete(node, a, 'deletes or moves')
            return
        if func in ('os.chdir', 'os.fchdir'):
            # Once the kernel's folder is another, every relative path after it (to_csv('x.csv')) writes there.
            text = self.path(node.args[0]) if node.args and func == 'os.chdir' else None
            if text is None:
                self.add('write_outside', 'changes the working folder to one computed at run time; relative paths would then leave the working folder', node)
            elif self.outside(text):
                self.add('write_outside', 'changes the working folder to ' + repr(text) + ', outside it; relative paths would then write there', node)
            return
        if func in _WRITE_FUNCTIONS:
            target = node.args[1] if func.startswith(('shutil.copy', 'os.symlink', 'os.link', 'joblib.dump')) and len(node.args) > 1 else (node.args[0] if node.args else None)
            self.check_write(node, target, 'writes')
            return
        if isinstance(node.func, _ast.Attribute):
            self.method_call(node, node.func.attr, args)
        self.url_arguments(node, func, args)

    def method_call(self, node, method, args):
        receiver = node.func.value
        if method in ('connect', 'connect_ex', 'sendto', 'bind') and node.args and isinstance(node.args[0], _ast.Tuple):
            self.add('network', self.network_reason(node, 'socket.' + method), node)
            return
        if method in _WRITE_METHODS:
            target = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in ('path_or_buf', 'path', 'fname', 'excel_writer', 'buf', 'filename')), None)
            if method in ('write_text', 'write_bytes', 'touch', 'mkdir') or target is None:
                target = receiver if method in ('write_text', 'write_bytes', 'touch', 'mkdir') else target
            if target is not None:
                self.check_write(node, target, 'writes')
        elif method in _DELETE_METHODS and self.path(receiver) is not None:
            self.check_delete(node, receiver, 'deletes or moves')
        elif method == 'open' and self.path(receiver) is not None:
            mode = self.literal(node.args[0]) if node.args else next((self.literal(k.value) for k in node.keywords if k.arg == 'mode'), None)
            if mode and _OPEN_WRITE.search(mode):
                self.check_write(node, receiver, 'opens for writing')
        self.url_arguments(node, method, args)

    def url_arguments(self, node, func, args):
        if func in ('print', 'str', 'repr', 'len') or (func or '').endswith(('urlparse', 'urlsplit', 'urljoin', 'quote', 'unquote')):
            return
        for a in args:
            text = self.literal(a) or self.prefix(a)
            if text and _URL.match(text.strip()):
                self.add('network', 'opens a network connection to ' + _host(text.strip()) + ' (' + (func or 'a call') + ': ' + text.strip()[:100] + ')', node)

    def network_reason(self, node, func):
        for a in list(node.args) + [k.value for k in node.keywords]:
            if isinstance(a, _ast.Tuple) and len(a.elts) >= 2:
                host = self.literal(a.elts[0])
                port = a.elts[1].value if isinstance(a.elts[1], _ast.Constant) else None
                if host is not None and (port is not None or func.startswith('socket')):
                    return 'opens a network connection to ' + (host or '0.0.0.0') + (':' + str(port) if port is not None else '') + ' (' + func + ')'
            text = self.literal(a) or self.prefix(a)
            if text and _URL.match(text.strip()):
                return 'opens a network connection to ' + _host(text.strip()) + ' (' + func + ': ' + text.strip()[:100] + ')'
        return 'uses the network (' + func + ')'


def _host(url):
    from urllib.parse import urlsplit
    try:
        return urlsplit(url).netloc.rsplit('@', 1)[-1] or url[:60]
    except ValueError:
        return url[:60]


def _transform(code):
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(code)
    except Exception:
        return code


def classify(code, cwd='.', names=None):
    source = _transform(code)
    try:
        tree = _ast.parse(source)
    except SyntaxError:
        return []  # a step that does not parse raises SyntaxError before anything of it runs
    classifier = _Classifier(cwd, names)
    classifier.visit(tree)
    return classifier.found
`;
