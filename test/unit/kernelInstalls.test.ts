import { kernelInstalls } from '../../src/agent/kernelInstalls';

const rewritten = (code: string) => kernelInstalls(code).code;

describe("installs the model writes go to the kernel's own interpreter", () => {
  it.each([
    ['!pip install pandas', '%pip install pandas'],
    ['!pip3 install -q seaborn==0.13', '%pip install -q seaborn==0.13'],
    ['!python -m pip install scipy', '%pip install scipy'],
    ['!python3.11 -m pip install --upgrade numpy', '%pip install --upgrade numpy'],
    ['pip install pandas', '%pip install pandas'],
    ['import os\nos.system("pip install openpyxl")', 'import os\n%pip install openpyxl'],
    ["subprocess.run(['pip', 'install', 'xlrd'], check=True)", '%pip install xlrd'],
    ['subprocess.check_call(["python", "-m", "pip", "install", "tabulate"])', '%pip install tabulate'],
    ['subprocess.run("pip install pyarrow", shell=True)', '%pip install pyarrow']
  ])('%s', (code, expected) => {
    expect(rewritten(code)).toBe(expected);
  });

  it('records each rewrite with the line as the model wrote it', () => {
    const result = kernelInstalls('import pandas as pd\n!pip install pandas\nprint(pd.__version__)');
    expect(result.code).toBe('import pandas as pd\n%pip install pandas\nprint(pd.__version__)');
    expect(result.rewrites).toEqual([{ from: '!pip install pandas', to: '%pip install pandas', why: expect.stringContaining('%pip') }]);
  });

  it('keeps the indentation of a line in a block (IPython runs an indented %pip)', () => {
    expect(rewritten('try:\n    import xlrd\nexcept ImportError:\n    !pip install xlrd')).toBe('try:\n    import xlrd\nexcept ImportError:\n    %pip install xlrd');
  });

  it.each([
    ['%pip install pandas'],
    ['subprocess.check_call([sys.executable, "-m", "pip", "install", "x"])'],
    ['!pip install x && rm -rf data'],
    ['!pip install $PKG'],
    ['!ls -la'],
    ['print("pip install pandas")'],
    ['help = """\npip install pandas\n"""'],
    ['subprocess.run(["pip", "install", name])'],
    ['import pandas as pd']
  ])('leaves %s as written', code => {
    expect(kernelInstalls(code)).toEqual({ code, rewrites: [] });
  });
});
