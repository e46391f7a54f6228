/**
 * The container packaging, read as files (no Docker daemon needed): the Dockerfile's stages, user,
 * health check, volume and command; .dockerignore; compose.yaml; and reboot-bot.env.example against the
 * variables src/config.ts and the provider descriptors actually read. The health check's command is
 * also run for real against a local server.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.js';
import { defaultCatalog } from '../../src/providers/catalog.js';

const repo = resolve(import.meta.dirname, '../..');
const read = (path: string): string => readFileSync(join(repo, path), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Dockerfile lines joined across `\` continuations, comments and blank lines dropped (https://docs.docker.com/reference/dockerfile/#format). */
function instructions(text: string): Instruction[] {
  const logical: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    if (line.endsWith('\\')) pending += line.slice(0, -1) + ' ';
    else {
      logical.push(pending + line);
      pending = '';
    }
  }
  return logical.map((line) => {
    const m = /^\s*(\S+)\s*(.*)$/.exec(line);
    return { keyword: (m?.[1] ?? '').toUpperCase(), args: (m?.[2] ?? '').trim() };
  });
}

function stagesOf(all: Instruction[]): { globalArgs: Instruction[]; stages: Stage[] } {
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of all) {
    if (ins.keyword === 'FROM') {
      const [from = '', , name] = ins.args.split(/\s+/);
      stages.push({ from, name, instructions: [] });
    } else if (stages.length === 0) globalArgs.push(ins);
    else stages[stages.length - 1]!.instructions.push(ins);
  }
  return { globalArgs, stages };
}

const ExecForm = z.array(z.string()).min(1);
const dockerfile = stagesOf(instructions(read('Dockerfile')));
const runtime = dockerfile.stages[dockerfile.stages.length - 1]!;
const inRuntime = (keyword: string): Instruction[] => runtime.instructions.filter((i) => i.keyword === keyword);
const healthcheckCommand = (): string[] => {
  const [check] = inRuntime('HEALTHCHECK');
  const m = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/.exec(check?.args ?? '');
  return ExecForm.parse(JSON.parse(m?.[1] ?? 'null'));
};

describe('Dockerfile', () => {
  it('builds on Node 20 and runs on the slim image of the same tag', () => {
    const tagArg = dockerfile.globalArgs.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_TAG='));
    expect(tagArg?.args).toMatch(/^NODE_TAG=20-/);
    for (const stage of dockerfile.stages) expect(stage.from.startsWith('node:${NODE_TAG}') || dockerfile.stages.some((s) => s.name === stage.from)).toBe(true);
    expect(runtime.from).toBe('node:${NODE_TAG}-slim');
  });

  it('reaches no network but the npm registry: no apt-get, curl or wget, and better-sqlite3 compiled from source against the image headers', () => {
    const runs = dockerfile.stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args));
    for (const run of runs) expect(run).not.toMatch(/apt-get|apk |curl|wget|git clone/);
    const env = dockerfile.stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.args)).join(' ');
    expect(env).toMatch(/npm_config_build_from_source=true/);
    expect(env).toMatch(/npm_config_nodedir=\/usr\/local/);
  });

  it('compiles in one stage, installs production dependencies only in another, and the runtime copies both without npm or a compiler', () => {
    const runsOf = (name: string): string[] =>
      dockerfile.stages.find((s) => s.name === name)?.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args) ?? [];
    expect(runsOf('build')).toEqual(['npm ci', 'npx tsc -p tsconfig.build.json']);
    expect(runsOf('prod-deps')).toEqual(['npm ci --omit=dev']);
    const copies = inRuntime('COPY').map((i) => i.args);
    expect(copies).toContain('--from=prod-deps /app/node_modules ./node_modules');
    expect(copies).toContain('--from=build /app/dist/src ./dist/src');
    expect(copies).toContain('--from=build /app/dist/commands ./dist/commands');
    expect(copies.some((c) => c.startsWith('--from=build') && c.includes('node_modules'))).toBe(false);
    for (const run of inRuntime('RUN')) expect(run.args).not.toMatch(/\bnpm\b|\bnpx\b|tsc/);
  });

  it('runs as an unprivileged user, with the database on the /data volume, the port exposed, and node as the command', () => {
    const users = inRuntime('USER').map((i) => i.args);
    expect(users).toEqual(['node']);
    const order = runtime.instructions.map((i) => i.keyword);
    expect(order.indexOf('USER')).toBeLessThan(order.indexOf('CMD'));

    const env = inRuntime('ENV').map((i) => i.args).join(' ');
    const dbPath = /\bREBOOT_DB=(\S+)/.exec(env)?.[1];
    expect(CONFIG_VARIABLES).toContain('REBOOT_DB');
    expect(dbPath).toMatch(/^\/data\//);
    expect(ExecForm.parse(JSON.parse(inRuntime('VOLUME')[0]?.args ?? 'null'))).toEqual(['/data']);
    expect(inRuntime('RUN').map((i) => i.args)).toContain('mkdir /data && chown node:node /data');
    expect(env).toMatch(/\bNODE_ENV=production\b/);

    const port = /\bPORT=(\d+)/.exec(env)?.[1];
    expect(port).toBe(String(loadConfig({}).port));
    expect(inRuntime('EXPOSE').map((i) => i.args)).toEqual([port]);
    expect(ExecForm.parse(JSON.parse(inRuntime('CMD')[0]?.args ?? 'null'))).toEqual(['node', 'dist/src/main.js']);
    expect(inRuntime('ENTRYPOINT')).toEqual([]);
  });

  it('sends only what it copies to the build: .dockerignore shuts out everything else (env files, databases, node_modules)', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(lines[0]).toBe('*');
    const allowed = new Set(lines.slice(1).map((l) => l.replace(/^!/, '').replace(/\/$/, '')));
    const contextSources = dockerfile.stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(contextSources.length).toBeGreaterThan(0);
    for (const source of contextSources) {
      expect(allowed.has(source), source).toBe(true);
      expect(existsSync(join(repo, source)), source).toBe(true);
    }
    for (const kept of allowed) expect(contextSources, kept).toContain(kept);
  });
});

describe('the health check command', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((done) => (server ? server.close(() => done()) : done())));

  async function serve(status: number): Promise<number> {
    server = createServer((req, res) => {
      res.writeHead(req.url === '/healthz' ? status : 404, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
    return (server.address() as AddressInfo).port;
  }
  /** Runs the HEALTHCHECK's command (a child process: this one must stay free to answer it). */
  const check = (port: number): Promise<number | null> => {
    const [command, ...args] = healthcheckCommand();
    expect(command).toBe('node');
    const child = spawn(process.execPath, args, { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
    return new Promise((done) => child.on('exit', (code) => done(code)));
  };
  const closeServer = (): Promise<void> => new Promise((done) => server!.close(() => done()));

  it('is healthy on 200 from GET /healthz, unhealthy on 503 and when nothing listens', async () => {
    expect(await check(await serve(200))).toBe(0);
    await closeServer();
    const port = await serve(503);
    expect(await check(port)).toBe(1);
    await closeServer();
    server = undefined;
    expect(await check(port)).toBe(1);
  });
});

describe('compose.yaml', () => {
  const Compose = z.object({
    services: z.record(
      z.string(),
      z.object({
        build: z.string(),
        env_file: z.string(),
        environment: z.record(z.string(), z.string()),
        volumes: z.array(z.string()),
        ports: z.array(z.string()),
        restart: z.string(),
        command: z.unknown().optional(),
        entrypoint: z.unknown().optional(),
      }),
    ),
    volumes: z.record(z.string(), z.null()),
  });
  const compose = Compose.parse(parseYaml(read('compose.yaml')));
  const bot = compose.services['reboot-bot'];

  it('builds this image and reads its settings from reboot-bot.env, which git ignores', () => {
    expect(bot?.build).toBe('.');
    expect(bot?.env_file).toBe('reboot-bot.env');
    expect(read('.gitignore').split('\n')).toContain('reboot-bot.env');
    expect(bot?.command).toBeUndefined();
    expect(bot?.entrypoint).toBeUndefined();
    expect(bot?.restart).toBe('unless-stopped');
  });

  it('keeps the database on a named volume at /data and publishes the port the image exposes', () => {
    const data = bot?.volumes.find((v) => v.split(':')[1] === '/data');
    expect(data).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(data?.split(':')[0]);
    expect(bot?.environment.REBOOT_DB).toMatch(/^\/data\//);
    expect(bot?.ports.map((p) => p.split(':').pop())).toEqual(inRuntime('EXPOSE').map((i) => i.args));
  });
});

describe('compose.replicas.yaml', () => {
  const Service = z.object({
    build: z.string().optional(),
    image: z.string(),
    env_file: z.string().optional(),
    environment: z.record(z.string(), z.string()).optional(),
    volumes: z.array(z.string()).optional(),
    ports: z.array(z.string()).optional(),
    depends_on: z.record(z.string(), z.object({ condition: z.string() })).optional(),
    healthcheck: z.object({ test: z.array(z.string()) }).optional(),
    deploy: z.object({ replicas: z.number() }).optional(),
    profiles: z.array(z.string()).optional(),
    entrypoint: z.array(z.string()).optional(),
  });
  const text = read('compose.replicas.yaml');
  const compose = z.object({ services: z.record(z.string(), Service), volumes: z.record(z.string(), z.null()) }).parse(parseYaml(text));
  const { 'reboot-bot': bot, postgres, redis, 'db-copy': copy } = compose.services;
  // compose.yaml, the single-process deployment this one grows from.
  const single = z.object({ services: z.record(z.string(), Service) }).parse(parseYaml(read('compose.yaml')));
  const named = (volumes: string[] | undefined, at: string) => volumes?.find((v) => v.split(':')[1] === at)?.split(':')[0];

  it('runs two replicas of the same image build as compose.yaml, on PostgreSQL and Redis once both are healthy', () => {
    expect(bot?.build).toBe('.');
    expect(bot?.image).toBe(single.services['reboot-bot']?.image);
    expect(bot?.env_file).toBe('reboot-bot.env');
    expect(bot?.deploy?.replicas).toBe(2);
    expect(bot?.environment?.REBOOT_DATABASE_URL).toMatch(/^postgres:\/\/reboot:\$\{REBOOT_PG_PASSWORD:\?[^}]+\}@postgres:5432\/reboot$/);
    expect(bot?.environment?.REBOOT_REDIS_URL).toBe('redis://redis:6379');
    expect(bot?.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    // Two replicas cannot both bind one host port.
    expect(bot?.ports?.every((p) => !p.includes(':'))).toBe(true);
  });

  it('keeps PostgreSQL 15 and Redis 7 on named volumes, with health checks', () => {
    expect(postgres?.image).toBe('postgres:15');
    expect(redis?.image).toBe('redis:7');
    expect(postgres?.healthcheck?.test).toContain('pg_isready');
    expect(redis?.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(Object.keys(compose.volumes)).toEqual(expect.arrayContaining([named(postgres?.volumes, '/var/lib/postgresql/data'), named(redis?.volumes, '/data')]));
  });

  it('has a db-copy service, only run on demand, from compose.yaml\'s SQLite volume, the URL never on its command line', () => {
    expect(copy?.profiles).toEqual(['copy']);
    expect(named(copy?.volumes, '/data')).toBe('reboot-bot-data');
    expect(single.services['reboot-bot']?.volumes).toContain('reboot-bot-data:/data');
    expect(copy?.entrypoint?.join(' ')).toContain('dist/src/db-copy.js --from /data/reboot-bot.db --to "$$REBOOT_DATABASE_URL"');
  });
});

describe('reboot-bot.env.example', () => {
  const lines = read('reboot-bot.env.example').split('\n');
  const setting = /^(# )?([A-Z][A-Z0-9_]*)=(.*)$/;
  const entries = lines.flatMap((line) => {
    const m = setting.exec(line);
    return m ? [{ commented: m[1] !== undefined, name: m[2]!, value: m[3]! }] : [];
  });
  const providerVariables = defaultCatalog.descriptors.flatMap((d) => d.env.variables);
  const known = [...CONFIG_VARIABLES, ...providerVariables, 'LOG_LEVEL'];

  it('lists every variable src/config.ts and the providers read, once, and nothing else', () => {
    const names = entries.map((e) => e.name);
    expect([...names].sort()).toEqual([...new Set(known)].sort());
  });

  it('holds no secret: the Slack tokens and every cloud key are empty', () => {
    const secrets = ['SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN', 'SLACK_SIGNING_SECRET', ...defaultCatalog.descriptors.flatMap((d) => d.env.secrets)];
    for (const name of secrets) expect(entries.find((e) => e.name === name), name).toEqual({ commented: false, name, value: '' });
    // Only what reads empty as unset is left uncommented.
    for (const e of entries.filter((x) => !x.commented)) expect(e.value, e.name).toBe('');
  });

  it('is valid as it stands, and with every example value uncommented', () => {
    const env = (which: (e: { commented: boolean; name: string }) => boolean): NodeJS.ProcessEnv =>
      Object.fromEntries(entries.filter(which).map((e) => [e.name, e.value]));
    expect(() => loadConfig(env((e) => !e.commented))).not.toThrow();
    // The JSON file it names lives in the container only.
    const examples = env((e) => e.name !== 'REBOOT_CONFIG');
    const config = loadConfig({ ...examples, SLACK_BOT_TOKEN: 'xoxb-1', REBOOT_APPROVERS: 'U0123ABCD' });
    expect(config.dbPath).toBe('/data/reboot-bot.db');
    expect(config.incidentChannel).toBe('C0123ABCD');
  });
});
